// Where sign-in returns to: a path of this portal only. `//host` and `/\host` are URLs of another
// host to the browser (history.replaceState would throw on them, a later link would leave the site).
export function safeReturnPath(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !/^\/[/\\]/.test(value) ? value : '/';
}
