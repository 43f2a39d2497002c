// CSV as RFC 4180 describes it: a header row, CRLF line ends, and a field quoted (with its double
// quotes doubled) when it holds a comma, a double quote, CR or LF. Objects are written as JSON,
// null and undefined as empty fields.
//
// CSV injection (OWASP): a text cell starting with `=`, `+`, `-`, `@`, tab or CR would run as a
// formula in a spreadsheet, so it gets a leading single quote (the spreadsheet then shows it as
// text). Numbers and booleans are written as they are; the JSON export is never changed.

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const raw = typeof value === 'object' ? JSON.stringify(value) : String(value);
  const text = typeof value === 'string' && FORMULA_START.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv<K extends string>(columns: readonly K[], rows: readonly Partial<Record<K, unknown>>[]): string {
  const lines = [columns.map(csvField).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
