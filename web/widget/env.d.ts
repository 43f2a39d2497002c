// The widget's stylesheet is bundled as a string (web/build.ts minifies it).
declare module '*.css' {
  const css: string;
  export default css;
}
