// The widget's stylesheet is bundled as a string (scripts/build-widget.ts minifies it).
declare module '*.css' {
  const css: string;
  export default css;
}
