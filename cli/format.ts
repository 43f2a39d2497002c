// Plain-text output: `label  value` lines and simple aligned tables.

export function fields(values: Record<string, string>): string {
  const width = Math.max(...Object.keys(values).map((k) => k.length));
  return Object.entries(values)
    .map(([label, value]) => `${label.padEnd(width)}  ${value}`)
    .join('\n');
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
