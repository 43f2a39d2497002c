// Members: invite by email (owners), change a member's role, remove one. The API refuses to
// remove or demote the last owner (409); that refusal shows in the alert like any other error.
import { useState } from 'preact/hooks';
import type { Member, Role } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, Hidden, useAction, useLoad } from '../ui.tsx';

const ROLES: { value: Role; label: string }[] = [
  { value: 'owner', label: 'Owner: everything' },
  { value: 'admin', label: 'Admin: read everything, manage databases' },
  { value: 'member', label: 'Member: read keys and usage' },
];


export function MembersPage() {
  const { api, user, canManageMembers } = useSession();
  const org = useOrganization();
  const members = useLoad(() => api.listMembers(org.id), [org.id]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const invite = useAction();
  const change = useAction();
  const [notice, setNotice] = useState('');
  /** A member's email when the API gives it (your own is always known), else their user id. */
  const who = (m: Member) => m.email ?? (m.userId === user.userId ? user.email : undefined) ?? m.userId;

  return (
    <>
      <h1>Members</h1>
      {canManageMembers ? (
        <form
          class="card"
          onSubmit={async (event) => {
            event.preventDefault();
            setNotice('');
            let added: Member | undefined;
            if (await invite.run(async () => { added = await api.inviteMember(org.id, email.trim(), role); })) {
              setNotice(`${added?.email ?? email} was added as ${added?.role ?? role}.`);
              setEmail('');
              members.reload();
            }
          }}
        >
          <h2>Invite a member</h2>
          <p class="hint">Someone without an account gets an email invitation to sign in.</p>
          <label>
            Email
            <input type="email" value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} required autoComplete="off" />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
              {ROLES.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
          <ErrorAlert error={invite.error} />
          <button type="submit" class="primary" disabled={invite.busy}>
            Invite
          </button>
        </form>
      ) : (
        <p>Only owners can invite, change or remove members.</p>
      )}
      <p role="status" class="status">
        {notice}
      </p>
      <ErrorAlert error={change.error ?? members.error} />
      {members.data ? (
        <div class="table-scroll" tabIndex={0} role="region" aria-label="Members">
          <table>
            <caption class="visually-hidden">Members</caption>
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Role</th>
                {canManageMembers ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {members.data.items.map((m) => (
                <tr key={m.userId}>
                  <th scope="row">
                    {who(m)}
                    {m.userId === user.userId ? ' (you)' : ''}
                  </th>
                  <td>
                    {canManageMembers ? (
                      <label>
                        <Hidden>Role for {who(m)}</Hidden>
                        <select
                          value={m.role}
                          disabled={change.busy}
                          onChange={async (e) => {
                            const next = (e.target as HTMLSelectElement).value as Role;
                            setNotice('');
                            if (await change.run(() => api.setMemberRole(org.id, m.userId, next))) setNotice(`${who(m)} is now ${next}.`);
                            members.reload();
                          }}
                        >
                          {ROLES.map((r) => (
                            <option key={r.value} value={r.value}>
                              {r.value}
                            </option>
                          ))}
                        </select>
                      </label>
                    ) : (
                      m.role
                    )}
                  </td>
                  {canManageMembers ? (
                    <td>
                      <button
                        type="button"
                        class="danger"
                        disabled={change.busy}
                        onClick={async () => {
                          setNotice('');
                          if (await change.run(() => api.removeMember(org.id, m.userId))) {
                            setNotice(`${who(m)} was removed.`);
                            members.reload();
                          }
                        }}
                      >
                        Remove<Hidden> {who(m)}</Hidden>
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : members.loading ? (
        <p role="status">Loading members…</p>
      ) : null}
    </>
  );
}
