// The signed-in layout: header with the organization switcher and Sign out, the navigation, and
// the page for the current path.
import { useEffect } from 'preact/hooks';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { AllOrganizationsPage } from './pages/all-organizations.tsx';
import { AuditLogPage } from './pages/audit-log.tsx';
import { DatabasePage, DatabasesPage } from './pages/databases.tsx';
import { MembersPage } from './pages/members.tsx';
import { OrganizationsPage } from './pages/organizations.tsx';
import { PlanPage } from './pages/plan.tsx';
import { UsagePage } from './pages/usage.tsx';
import { Link, navigate, usePath } from './router.tsx';
import { useSession } from './session.tsx';
import { ErrorAlert, Select } from './ui.tsx';

export const PATHS = {
  apiKeys: '/organization/api-key',
  databases: '/organization/databases',
  members: '/organization/members',
  usage: '/organization/usage',
  auditLog: '/organization/audit-log',
  plan: '/organization/plan',
  organizations: '/organizations',
  allOrganizations: '/operator/organizations',
} as const;

function OrganizationSwitcher() {
  const { organizations, organization, selectOrganization } = useSession();
  if (!organizations || organizations.length < 2 || !organization) return null;
  return (
    <Select
      class="switcher"
      label="Organization"
      value={organization.id}
      options={organizations.map((o) => ({ value: o.id, label: o.name }))}
      onValue={selectOrganization}
    />
  );
}

function Page({ path }: { path: string }) {
  const { organizations, organizationsError, organization, user } = useSession();
  if (path === PATHS.organizations) return <OrganizationsPage />;
  if (path === PATHS.allOrganizations && user.isOperator) return <AllOrganizationsPage />;
  // Operators change plans and credits of any organization, including ones they are not in.
  if (path === PATHS.plan && user.isOperator) return <PlanPage />;
  if (!organizations) {
    return organizationsError ? <ErrorAlert error={organizationsError} /> : <p role="status">Loading your organizations…</p>;
  }
  if (!organization) return <OrganizationsPage />;
  if (path === PATHS.apiKeys) return <ApiKeysPage />;
  if (path === PATHS.databases) return <DatabasesPage />;
  if (path.startsWith(`${PATHS.databases}/`)) return <DatabasePage databaseId={decodeURIComponent(path.slice(PATHS.databases.length + 1))} />;
  if (path === PATHS.members) return <MembersPage />;
  if (path === PATHS.usage) return <UsagePage />;
  if (path === PATHS.auditLog) return <AuditLogPage />;
  if (path === PATHS.plan) return <PlanPage />;
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page at {path}. Go to <Link href={PATHS.apiKeys}>API Keys</Link>.
      </p>
    </>
  );
}

export function Shell() {
  const { user, auth, organization, organizations } = useSession();
  const path = usePath();
  useEffect(() => {
    if (path === '/') navigate(PATHS.apiKeys, { replace: true });
  }, [path]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Keygate</span>
        {/* With several organizations the switcher names the selected one. */}
        {organization && (organizations?.length ?? 0) < 2 ? <span class="org-name">{organization.name}</span> : null}
        <OrganizationSwitcher />
        <span class="who">
          {user.email ?? user.userId}
          {user.isOperator ? ' (operator)' : ''}
        </span>
        <button type="button" onClick={() => void auth.signOut()}>
          Sign out
        </button>
      </header>
      <nav aria-label="Organization" class="nav">
        <ul>
          <li><Link href={PATHS.apiKeys}>API Keys</Link></li>
          <li><Link href={PATHS.databases}>Databases</Link></li>
          <li><Link href={PATHS.members}>Members</Link></li>
          <li><Link href={PATHS.usage}>Usage</Link></li>
          <li><Link href={PATHS.auditLog}>Audit log</Link></li>
          <li><Link href={PATHS.plan}>Plan and credits</Link></li>
          <li><Link href={PATHS.organizations}>Organizations</Link></li>
          {user.isOperator ? <li><Link href={PATHS.allOrganizations}>All organizations</Link></li> : null}
        </ul>
      </nav>
      <main class="page" id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}
