// The signed-in layout: header with the organization switcher and Sign out, the navigation, and
// the page for the current path.
import { useEffect } from 'preact/hooks';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { AllOrganizationsPage } from './pages/all-organizations.tsx';
import { AssistantsPage } from './pages/assistants.tsx';
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
  assistants: '/organization/assistants',
  databases: '/organization/databases',
  members: '/organization/members',
  usage: '/organization/usage',
  auditLog: '/organization/audit-log',
  plan: '/organization/plan',
  organizations: '/organizations',
  allOrganizations: '/operator/organizations',
} as const;

function OrganizationSwitcher() {
  const { organizations, organization, selectOrganization, viewing } = useSession();
  if (!organizations || organizations.length < 2 || !organization || viewing) return null;
  return (
    <Select
      class="switcher"
      label="Organization"
      value={organization.id}
      options={organizations.map((o) => ({ value: o.id, label: o.name }))}
      onValue={(orgId) => {
        selectOrganization(orgId);
        // A page opened for another organization (?org=) now shows this one.
        if (window.location.search) navigate(window.location.pathname, { replace: true });
      }}
    />
  );
}

/** An operator looking at an organization they are not in: read only, and a way back. */
function ViewingNotice() {
  const { organization, viewing, viewOrganization } = useSession();
  if (!viewing || !organization) return null;
  return (
    <div class="viewing">
      <p>
        Viewing <strong>{organization.name}</strong> as an operator: read only, except its plan, billing and credits.
      </p>
      <button
        type="button"
        onClick={() => {
          viewOrganization(undefined);
          navigate(PATHS.allOrganizations);
        }}
      >
        Stop viewing
      </button>
    </div>
  );
}

/** An operator with no organization of their own and none opened: where to find one. */
function OperatorStart() {
  return (
    <>
      <h1>Choose an organization</h1>
      <p>
        As an operator you can open any organization from <Link href={PATHS.allOrganizations}>All organizations</Link>: its plan, billing and
        credits, and, read only, its keys, assistants, databases, members, usage and audit log.
      </p>
      <p>
        You are not a member of an organization yourself. To have one of your own, create it on <Link href={PATHS.organizations}>Organizations</Link>.
      </p>
    </>
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
  if (!organization) return user.isOperator ? <OperatorStart /> : <OrganizationsPage />;
  if (path === PATHS.apiKeys) return <ApiKeysPage />;
  if (path === PATHS.assistants) return <AssistantsPage />;
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
  const { user, auth, organization, organizations, viewing } = useSession();
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
        {organization && ((organizations?.length ?? 0) < 2 || viewing) ? <span class="org-name">{organization.name}</span> : null}
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
          <li><Link href={PATHS.assistants}>Assistants</Link></li>
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
        <ViewingNotice />
        <Page path={path} />
      </main>
    </>
  );
}
