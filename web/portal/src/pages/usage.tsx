// Usage per UTC day (docs/api.md section 3), for the organization and for one key: a small SVG
// bar chart for the eye and the same numbers in a table for everyone (and for screen readers).
import { useState } from 'preact/hooks';
import type { UsageDay } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, formatNumber, Select, Table, useLoad } from '../ui.tsx';

const SERIES = [
  { field: 'requests', label: 'Requests', color: '#1d4ed8' },
  { field: 'rateLimited', label: 'Rate limited', color: '#b45309' },
  { field: 'credits', label: 'Credits', color: '#047857' },
] as const;

const DAY_CHOICES = [7, 30, 90];

function totals(days: UsageDay[]) {
  return days.reduce(
    (sum, d) => ({ requests: sum.requests + d.requests, rateLimited: sum.rateLimited + d.rateLimited, credits: sum.credits + d.credits }),
    { requests: 0, rateLimited: 0, credits: 0 },
  );
}

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
  const summary = `${props.title}: ${formatNumber(sum.requests)} requests, ${formatNumber(sum.rateLimited)} rate limited, ${formatNumber(sum.credits)} credits over ${days.length} UTC days, from ${days[0]?.date ?? ''} to ${days[days.length - 1]?.date ?? ''}. The table below has each day.`;
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

export function UsageTable(props: { days: UsageDay[]; caption: string }) {
  return (
    <Table caption={props.caption} showCaption columns={['Date', 'Requests', 'Rate limited', 'Credits']}>
      {props.days.map((d) => (
        <tr key={d.date}>
          <th scope="row">{d.date}</th>
          <td>{formatNumber(d.requests)}</td>
          <td>{formatNumber(d.rateLimited)}</td>
          <td>{formatNumber(d.credits)}</td>
        </tr>
      ))}
    </Table>
  );
}

export function UsagePage() {
  const { api } = useSession();
  const org = useOrganization();
  const [days, setDays] = useState(30);
  const [keyId, setKeyId] = useState('');
  const orgUsage = useLoad(() => api.organizationUsage(org.id, days), [org.id, days]);
  const keys = useLoad(() => api.listKeys(org.id, { limit: 100 }), [org.id]);
  const selectedKey = keys.data?.items.find((k) => k.id === keyId) ?? keys.data?.items[0];
  const keyUsage = useLoad(
    () => (selectedKey ? api.keyUsage(org.id, selectedKey.id, days) : Promise.resolve(undefined)),
    [org.id, selectedKey?.id, days],
  );
  return (
    <>
      <h1>Usage</h1>
      <p>Requests, rate-limited requests and credits per UTC day.</p>
      <Select label="Days" value={String(days)} options={DAY_CHOICES.map((n) => ({ value: String(n), label: `Last ${n} days` }))} onValue={(value) => setDays(Number(value))} />
      <section aria-labelledby="org-usage">
        <h2 id="org-usage">Organization usage</h2>
        <ErrorAlert error={orgUsage.error} />
        {orgUsage.data ? (
          <>
            <UsageChart days={orgUsage.data.items} title={`Usage of ${org.name}`} />
            <UsageTable days={orgUsage.data.items} caption={`Usage of ${org.name} per UTC day`} />
          </>
        ) : orgUsage.loading ? (
          <p role="status">Loading usage…</p>
        ) : null}
      </section>
      <section aria-labelledby="key-usage">
        <h2 id="key-usage">Key usage</h2>
        <ErrorAlert error={keys.error ?? keyUsage.error} />
        {keys.data && keys.data.items.length === 0 ? <p>No keys yet.</p> : null}
        {selectedKey ? (
          <>
            <Select label="Key" value={selectedKey.id} options={keys.data!.items.map((k) => ({ value: k.id, label: `${k.name} (${k.displayKey})` }))} onValue={setKeyId} />
            {keyUsage.data ? (
              <>
                <UsageChart days={keyUsage.data.items} title={`Usage of key ${selectedKey.name}`} />
                <UsageTable days={keyUsage.data.items} caption={`Usage of key ${selectedKey.name} per UTC day`} />
              </>
            ) : null}
          </>
        ) : null}
      </section>
    </>
  );
}
