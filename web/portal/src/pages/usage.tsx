// Usage per UTC day (docs/api.md "Routes"): first a summary of the period (the organization's
// totals, then each key that was used), then a small SVG bar chart for the eye and the same numbers
// in a table for everyone (and for screen readers), for the organization or one key. Days and keys
// without any use are left out of the tables, which say so.
import { useState } from 'preact/hooks';
import type { ApiKey, ManagementClient, UsageDay } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { formatNumber, LoadedView, Select, Table, useLoad } from '../ui.tsx';

const SERIES = [
  { field: 'requests', label: 'Requests', color: '#1d4ed8' },
  { field: 'rateLimited', label: 'Rate limited', color: '#b45309' },
  { field: 'credits', label: 'Credits', color: '#047857' },
] as const;

const COUNTS = [
  { field: 'requests', label: 'Requests' },
  { field: 'rateLimited', label: 'Rate limited' },
  { field: 'credits', label: 'Credits' },
  { field: 'inputTokens', label: 'Input tokens' },
  { field: 'outputTokens', label: 'Output tokens' },
] as const;

type Totals = Record<(typeof COUNTS)[number]['field'], number>;

const DAY_CHOICES = [7, 30, 90];
/** Keys whose usage is read at once for the summary. */
const PARALLEL = 4;

export function totals(days: UsageDay[]): Totals {
  const sum: Totals = { requests: 0, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 };
  for (const day of days) for (const { field } of COUNTS) sum[field] += day[field] ?? 0;
  return sum;
}

const used = (t: Totals) => COUNTS.some(({ field }) => t[field] > 0);

/** Grouped bars, oldest day on the left. Decorative detail is in the table beside it. */
export function UsageChart(props: { days: UsageDay[]; title: string }) {
  const days = [...props.days].reverse();
  const max = Math.max(1, ...days.flatMap((d) => [d.requests, d.rateLimited, d.credits]));
  const width = 600;
  const height = 160;
  const top = 12;
  const bottom = 20;
  const left = 36;
  const slot = (width - left) / Math.max(days.length, 1);
  const bar = Math.max(1, (slot * 0.8) / SERIES.length);
  const scale = (v: number) => ((height - top - bottom) * v) / max;
  const sum = totals(days);
  const summary = `${props.title}: ${formatNumber(sum.requests)} requests, ${formatNumber(sum.rateLimited)} rate limited, ${formatNumber(sum.credits)} credits over ${days.length} UTC days, from ${days[0]?.date ?? ''} to ${days[days.length - 1]?.date ?? ''}; ${formatNumber(sum.inputTokens)} input and ${formatNumber(sum.outputTokens)} output tokens. The table below has each day.`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary}>
        <line x1={left} y1={height - bottom} x2={width} y2={height - bottom} stroke="#6b7280" />
        <text x={left - 4} y={top + 4} text-anchor="end" font-size="11" fill="#374151">{formatNumber(max)}</text>
        <text x={left - 4} y={height - bottom} text-anchor="end" font-size="11" fill="#374151">0</text>
        {days.map((d, i) =>
          SERIES.map((s, j) => {
            const h = scale(d[s.field]);
            return h > 0 ? (
              <rect key={`${d.date}-${s.field}`} x={left + i * slot + slot * 0.1 + j * bar} y={height - bottom - h} width={bar} height={h} fill={s.color} />
            ) : null;
          }),
        )}
        <text x={left} y={height - 4} font-size="11" fill="#374151">{days[0]?.date}</text>
        <text x={width} y={height - 4} font-size="11" text-anchor="end" fill="#374151">{days[days.length - 1]?.date}</text>
      </svg>
      <figcaption class="legend">
        {SERIES.map((s) => (
          <span key={s.field}>
            <span class="swatch" style={{ background: s.color }} aria-hidden="true" /> {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** The days with any use, newest first. */
export function UsageTable(props: { days: UsageDay[]; caption: string }) {
  const active = props.days.filter((d) => used(totals([d])));
  return (
    <>
      <Table cards caption={props.caption} showCaption columns={['Date', ...COUNTS.map((c) => c.label)]}>
        {active.map((d) => (
          <tr key={d.date}>
            <th scope="row">{d.date}</th>
            {COUNTS.map((c) => (
              <td key={c.field} data-label={c.label}>
                {formatNumber(d[c.field] ?? 0)}
              </td>
            ))}
          </tr>
        ))}
      </Table>
      {active.length < props.days.length ? <p class="hint">{formatNumber(props.days.length - active.length)} days without any use are left out.</p> : null}
    </>
  );
}

interface KeyTotals {
  key: ApiKey;
  totals: Totals;
}

/** Every key of the organization (all pages of the list). */
async function allKeys(api: ManagementClient, orgId: string): Promise<ApiKey[]> {
  const keys: ApiKey[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listKeys(orgId, { limit: 100, ...(cursor ? { cursor } : {}) });
    keys.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

/** The period's totals of each key that was ever used (a key never used has none to read). */
async function keyTotals(api: ManagementClient, orgId: string, keys: ApiKey[], days: number): Promise<KeyTotals[]> {
  const used = keys.filter((k) => k.usageCount > 0);
  const out: KeyTotals[] = [];
  for (let i = 0; i < used.length; i += PARALLEL) {
    const batch = used.slice(i, i + PARALLEL);
    const answers = await Promise.all(batch.map((k) => api.keyUsage(orgId, k.id, days)));
    batch.forEach((key, j) => out.push({ key, totals: totals(answers[j]!.items) }));
  }
  return out;
}

function Summary(props: { org: Totals; keys: KeyTotals[] | undefined; keyCount: number; days: number }) {
  const { org, days } = props;
  const usedKeys = (props.keys ?? []).filter((k) => used(k.totals)).sort((a, b) => b.totals.requests - a.totals.requests);
  return (
    <section aria-labelledby="usage-summary">
      <h2 id="usage-summary">Last {days} days</h2>
      <dl class="totals">
        {COUNTS.map((c) => (
          <div key={c.field}>
            <dt>{c.label}</dt>
            <dd>{formatNumber(org[c.field])}</dd>
          </div>
        ))}
      </dl>
      {props.keys === undefined ? (
        <p role="status">Adding up each key…</p>
      ) : usedKeys.length === 0 ? (
        <p>No key was used in the last {days} days.</p>
      ) : (
        <>
          <Table cards caption={`Usage per key, last ${days} days`} showCaption columns={['Key', ...COUNTS.map((c) => c.label)]}>
            {usedKeys.map(({ key, totals: t }) => (
              <tr key={key.id}>
                <th scope="row" class="key-name">
                  {key.name} <span class="mono muted">{key.displayKey}</span>
                </th>
                {COUNTS.map((c) => (
                  <td key={c.field} data-label={c.label}>
                    {formatNumber(t[c.field])}
                  </td>
                ))}
              </tr>
            ))}
          </Table>
          {props.keyCount > usedKeys.length ? <p class="hint">{formatNumber(props.keyCount - usedKeys.length)} other keys were not used in this period.</p> : null}
        </>
      )}
    </section>
  );
}

export function UsagePage() {
  const { api } = useSession();
  const org = useOrganization();
  const [days, setDays] = useState(30);
  const [keyId, setKeyId] = useState('');
  const orgUsage = useLoad(() => api.organizationUsage(org.id, days), [org.id, days]);
  const keys = useLoad(() => allKeys(api, org.id), [org.id]);
  const perKey = useLoad(() => (keys.data ? keyTotals(api, org.id, keys.data, days) : Promise.resolve(undefined)), [org.id, keys.data, days]);
  const selectedKey = keys.data?.find((k) => k.id === keyId);
  const keyUsage = useLoad(
    () => (selectedKey ? api.keyUsage(org.id, selectedKey.id, days) : Promise.resolve(undefined)),
    [org.id, selectedKey?.id, days],
  );
  const shown = selectedKey ? keyUsage.data?.items : orgUsage.data?.items;
  const title = selectedKey ? `Usage of key ${selectedKey.name}` : `Usage of ${org.name}`;
  return (
    <>
      <h1>Usage</h1>
      <p>Requests, rate-limited requests, credits and tokens per UTC day.</p>
      <div class="filters">
        <Select label="Days" value={String(days)} options={DAY_CHOICES.map((n) => ({ value: String(n), label: `Last ${n} days` }))} onValue={(value) => setDays(Number(value))} />
        <Select
          label="Key"
          value={selectedKey?.id ?? ''}
          options={[{ value: '', label: 'All keys (the organization)' }, ...(keys.data ?? []).map((k) => ({ value: k.id, label: `${k.name} (${k.displayKey})` }))]}
          onValue={setKeyId}
        />
      </div>
      <LoadedView loaded={orgUsage} loading="Loading usage…" otherError={keys.error ?? perKey.error ?? keyUsage.error}>
        {(data) => <Summary org={totals(data.items)} keys={perKey.data} keyCount={keys.data?.length ?? 0} days={days} />}
      </LoadedView>
      <section aria-labelledby="usage-days">
        <h2 id="usage-days">{selectedKey ? `Key ${selectedKey.name} per UTC day` : 'Organization per UTC day'}</h2>
        {shown ? (
          used(totals(shown)) ? (
            <>
              <UsageChart days={shown} title={title} />
              <UsageTable days={shown} caption={`${title} per UTC day`} />
            </>
          ) : (
            <p>No use in the last {days} days.</p>
          )
        ) : null}
      </section>
    </>
  );
}
