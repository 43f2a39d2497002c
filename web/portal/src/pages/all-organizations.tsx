// Operators: find any organization by a part of its name or a prefix of its id, and open its plan,
// billing and credits on one page.
import { useState } from 'preact/hooks';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { formatNumber, LoadedView, Pager, Table, useLoad, usePages } from '../ui.tsx';

export const PLAN_PATH = '/organization/plan';

export function AllOrganizationsPage() {
  const { api } = useSession();
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  const pages = usePages();
  const cursor = pages.cursor;
  const found = useLoad(() => api.searchOrganizations(q, cursor), [q, cursor]);
  return (
    <>
      <h1>All organizations</h1>
      <form
        role="search"
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setQ(text.trim());
          pages.reset();
        }}
      >
        <label>
          Search organizations
          <input type="search" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} placeholder="Name or id" />
        </label>
        <button type="submit">Search</button>
      </form>
      <LoadedView loaded={found} loading="Searching…">
        {(data) => (
          data.items.length === 0 ? (
            <p>No organization matches.</p>
          ) : (
            <Table cards caption="Organizations found" columns={['Organization', 'Id', 'Plan', 'Credits']}>
              {data.items.map((o) => (
                <tr key={o.id}>
                  <th scope="row" class="key-name">
                    <Link href={`${PLAN_PATH}?org=${encodeURIComponent(o.id)}`}>{o.name}</Link>
                  </th>
                  <td data-label="Id" class="mono key-name">{o.id}</td>
                  <td data-label="Plan">{o.plan}</td>
                  <td data-label="Credits">{formatNumber(o.credits)}</td>
                </tr>
              ))}
            </Table>
          )
        )}
      </LoadedView>
      <Pager pages={pages} nextCursor={found.data?.nextCursor} />
    </>
  );
}
