// Members: invite by email (owners), change a member's role, remove one. The API refuses to
// remove or demote the last owner (409); that refusal shows in the alert like any other error.
import { useState } from 'preact/hooks';
import type { Member, Role } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, Field, FormActions, Hidden, Select, Table, useAction, useLoad } from '../ui.tsx';

const ROLES: { value: Role; label: string }[] = [
  { value: 'owner', label: 'Owner: everything' },
  { value: 'admin', label: 'Admin: read everything, manage databases' },
  { value: 'member', label: 'Member: read keys and usage' },
];
/** A member's row shows each role by its name alone. */
const ROLE_NAMES = ROLES.map((r) => ({ value: r.value, label: r.value }));

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
          <Field label="Email" type="email" value={email} onValue={setEmail} required autoComplete="off" />
          <Select label="Role" value={role} options={ROLES} onValue={setRole} />
          <FormActions action={invite} submit="Invite" />
        </form>
      ) : (
        <p>Only owners can invite, change or remove members.</p>
      )}
      <p role="status" class="status">
        {notice}
      </p>
      <ErrorAlert error={change.error ?? members.error} />
      {members.data ? (
        <Table caption="Members" columns={['Member', 'Role', canManageMembers && 'Actions']}>
          {members.data.items.map((m) => (
            <tr key={m.userId}>
              <th scope="row">
                {who(m)}
                {m.userId === user.userId ? ' (you)' : ''}
              </th>
              <td>
                {canManageMembers ? (
                  <Select
                    label={<Hidden>Role for {who(m)}</Hidden>}
                    value={m.role}
                    options={ROLE_NAMES}
                    disabled={change.busy}
                    onValue={async (next) => {
                      setNotice('');
                      if (await change.run(() => api.setMemberRole(org.id, m.userId, next))) setNotice(`${who(m)} is now ${next}.`);
                      members.reload();
                    }}
                  />
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
        </Table>
      ) : members.loading ? (
        <p role="status">Loading members…</p>
      ) : null}
    </>
  );
}
