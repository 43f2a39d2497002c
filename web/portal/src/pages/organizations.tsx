// Organizations: the ones the user belongs to (select one) and a form to create another.
import { useState } from 'preact/hooks';
import { Link, navigate } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ActionForm, Field, FormActions, useAction } from '../ui.tsx';

export function OrganizationsPage() {
  const { api, user, organizations, organization, selectOrganization, reloadOrganizations } = useSession();
  const [name, setName] = useState('');
  const create = useAction();
  return (
    <>
      <h1>Organizations</h1>
      <p class="muted">
        Signed in as {user.email ?? user.userId}
        {user.isOperator ? ' (operator)' : ''}.
      </p>
      {organizations && organizations.length === 0 ? (
        user.isOperator ? (
          <p>
            You are not a member of an organization. As an operator you can open any organization from{' '}
            <Link href="/operator/organizations">All organizations</Link>; create one here to have your own.
          </p>
        ) : (
          <p>You are not in an organization yet. Create one to get your first API key, or ask an owner to invite you.</p>
        )
      ) : null}
      {organizations && organizations.length > 0 ? (
        <ul class="org-list">
          {organizations.map((o) => (
            <li key={o.id}>
              <button
                type="button"
                aria-pressed={o.id === organization?.id}
                onClick={() => {
                  selectOrganization(o.id);
                  navigate('/organization/api-key');
                }}
              >
                Open {o.name}
              </button>{' '}
              <span class="muted">
                {o.role}, plan {o.plan}
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      <ActionForm
        class="card"
        action={create}
        run={() => api.createOrganization(name.trim())}
        onDone={async (created) => {
          setName('');
          await reloadOrganizations();
          selectOrganization(created.id);
          navigate('/organization/api-key');
        }}
      >
        <h2>Create an organization</h2>
        <Field label="Organization name" value={name} onValue={setName} required maxLength={100} autoComplete="organization" />
        <FormActions action={create} submit="Create organization" />
      </ActionForm>
    </>
  );
}
