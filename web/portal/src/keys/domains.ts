// What the allowed-domains field will do, said before the key is saved: the API keeps only the
// scheme, host and port of each entry (docs/api.md "Allowed domains (publishable keys)").

/** The entries of a comma-separated field, trimmed, empty ones left out. */
export function domainList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export interface DroppedPart {
  entry: string;
  /** The path, query or fragment the API drops. */
  dropped: string;
  /** What the entry allows once that is dropped. */
  kept: string;
}

/** Entries with a path, query or fragment beyond a bare trailing slash. */
export function droppedParts(text: string): DroppedPart[] {
  const parts: DroppedPart[] = [];
  for (const entry of domainList(text)) {
    const match = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)(.*)$/i.exec(entry);
    const rest = match?.[3] ?? '';
    if (rest !== '' && rest !== '/') parts.push({ entry, dropped: rest, kept: `${match?.[1] ?? ''}${match?.[2] ?? ''}` });
  }
  return parts;
}
