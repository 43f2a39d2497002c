// Members: invite by email (owners), change a member's role, remove one. The API refuses to
// remove or demote the last owner (409); that refusal shows in the alert like any other error.
import { useState } from 'preact/hooks';
import type { Member, Role } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ActionForm, ConfirmDialog, Field, FormActions, Hidden, LoadedView, RowAction, Select, Table, useAction, useLoad } from '../ui.tsx';

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
  const [notice, setNotice] = useState('');
  /** A removal or role change waiting for the owner to confirm it. */
  const [pending, setPending] = useState<{ kind: 'remove'; member: Member } | { kind: 'role'; member: Member; role: Role } | undefined>(undefined);
  /** A member's email when the API gives it (your own is always known), else their user id. */
  const who = (m: Member) => m.email ?? (m.userId === user.userId ? user.email : undefined) ?? m.userId;

  return (
    <>
      <h1>Members</h1>
      {canManageMembers ? (
        <ActionForm
          class="card"
          action={invite}
          run={() => {
            setNotice('');
            return api.inviteMember(org.id, email.trim(), role);
          }}
          onDone={(added) => {
            setNotice(`${added.email ?? email} was added as ${added.role}.`);
            setEmail('');
            members.reload();
          }}
        >
          <h2>Invite a member</h2>
          <p class="hint">Someone without an account gets an email invitation to sign in.</p>
          <Field label="Email" type="email" value={email} onValue={setEmail} required autoComplete="off" />
          <Select label="Role" value={role} options={ROLES} onValue={setRole} />
          <FormActions action={invite} submit="Invite" />
        </ActionForm>
      ) : (
        <p>Only owners can invite, change or remove members.</p>
      )}
      <p role="status" class="status">
        {notice}
      </p>
      <LoadedView loaded={members} loading="Loading members…">
        {(data) => (
          <Table cards caption="Members" columns={['Member', 'Role', canManageMembers && 'Actions']}>
            {data.items.map((m) => (
              <tr key={m.userId}>
                <th scope="row" class="key-name">
                  {who(m)}
                  {m.userId === user.userId ? ' (you)' : ''}
                </th>
                <td data-label="Role">
                  {canManageMembers ? (
                    <Select
                      label={<Hidden>Role for {who(m)}</Hidden>}
                      value={pending?.kind === 'role' && pending.member.userId === m.userId ? pending.role : m.role}
                      options={ROLE_NAMES}
                      onValue={(next) => {
                        if (next !== m.role) setPending({ kind: 'role', member: m, role: next });
                      }}
                    />
                  ) : (
                    m.role
                  )}
                </td>
                {canManageMembers ? (
                  <td class="row-actions">
                    <RowAction label="Remove" of={who(m)} danger onClick={() => setPending({ kind: 'remove', member: m })} />
                  </td>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </LoadedView>
      {pending?.kind === 'remove' ? (
        <ConfirmDialog
          title={`Remove ${who(pending.member)}?`}
          confirm="Remove member"
          onConfirm={() => api.removeMember(org.id, pending.member.userId)}
          onClose={() => setPending(undefined)}
          onDone={() => {
            invite.clear();
            setNotice(`${who(pending.member)} was removed.`);
            setPending(undefined);
            members.reload();
          }}
        >
          <p>They lose access to this organization at once. Their keys keep working until an owner revokes them.</p>
        </ConfirmDialog>
      ) : null}
      {pending?.kind === 'role' ? (
        <ConfirmDialog
          title={`Change the role of ${who(pending.member)}?`}
          confirm="Change role"
          onConfirm={() => api.setMemberRole(org.id, pending.member.userId, pending.role)}
          onClose={() => setPending(undefined)}
          onDone={() => {
            invite.clear();
            setNotice(`${who(pending.member)} is now ${pending.role}.`);
            setPending(undefined);
            members.reload();
          }}
        >
          <p>
            From {pending.member.role} to {pending.role}.{' '}
            {pending.role === 'owner' ? 'An owner can do everything, including removing you.' : ROLES.find((r) => r.value === pending.role)?.label}
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
