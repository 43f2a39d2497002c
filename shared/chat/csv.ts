// CSV as RFC 4180 describes it: a header row, CRLF line ends, and a field quoted (with its double
// quotes doubled) when it holds a comma, a double quote, CR or LF. Objects are written as JSON,
// null and undefined as empty fields. Cells are written as they are: no spreadsheet-formula escaping,
// which would change the data for programs reading it.

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv<K extends string>(columns: readonly K[], rows: readonly Partial<Record<K, unknown>>[]): string {
  const lines = [columns.map(csvField).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
