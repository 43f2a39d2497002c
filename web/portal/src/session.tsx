// The signed-in state every page reads: the API client, the user, their organizations, the one
// selected, and what the user's role there lets the page show. The API stays the only place that
// enforces roles (docs/api.md "Portal (web)"); this only decides which controls to offer.
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { ManagementClient, type Membership, type Organization, type Role } from '../../api/management.ts';
import type { Auth, SignedInUser } from './auth.ts';
import type { PortalConfig } from './config.ts';

/** Which organization is selected survives a reload (an id, nothing secret). */
const SELECTED_ORG = 'keygate.portal.organization';

export interface Session {
  config: PortalConfig;
  auth: Auth;
  user: SignedInUser;
  api: ManagementClient;
  organizations: Membership[] | undefined;
  organizationsError: unknown;
  reloadOrganizations: () => Promise<Membership[] | undefined>;
  /**
   * The selected organization (undefined while loading or when the user has none): one of the
   * user's, or one an operator views without being a member (then `role` is undefined).
   */
  organization: CurrentOrganization | undefined;
  selectOrganization: (orgId: string) => void;
  /** Operators: show any organization read-only (undefined: back to their own). */
  viewOrganization: (org: Organization | undefined) => void;
  /** The organization shown is one an operator views, not one of theirs. */
  viewing: boolean;
  role: Role | undefined;
  /**
   * Owner controls for owners of this organization only. Operators change an organization's plan,
   * billing and credits, and read the rest; they create or change nothing else in an organization
   * they are not an owner of (docs/api.md "Authentication").
   */
  canManageKeys: boolean;
  canManageAssistants: boolean;
  canManageDatabases: boolean;
  canManageMembers: boolean;
  canReadAuditLog: boolean;
}

export type CurrentOrganization = Organization & { role?: Role };

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** The selected organization; pages under /organization render only when there is one. */
export function useOrganization(): CurrentOrganization {
  const { organization } = useSession();
  if (!organization) throw new Error('No organization is selected');
  return organization;
}

export function SessionProvider(props: { config: PortalConfig; auth: Auth; user: SignedInUser; children: ComponentChildren }) {
  const { config, auth, user } = props;
  const api = useMemo(() => new ManagementClient(config.apiUrl, () => user.token), [config.apiUrl, user.token]);
  const [organizations, setOrganizations] = useState<Membership[] | undefined>(undefined);
  const [organizationsError, setOrganizationsError] = useState<unknown>(undefined);
  const [selected, setSelected] = useState<string | null>(() => localStorage.getItem(SELECTED_ORG));

  const reloadOrganizations = useCallback(async () => {
    try {
      const { items } = await api.listOrganizations();
      setOrganizations(items);
      setOrganizationsError(undefined);
      return items;
    } catch (error) {
      setOrganizationsError(error);
      return undefined;
    }
  }, [api]);
  useEffect(() => {
    void reloadOrganizations();
  }, [reloadOrganizations]);

  const [viewed, setViewed] = useState<Organization | undefined>(undefined);
  const selectOrganization = useCallback((orgId: string) => {
    localStorage.setItem(SELECTED_ORG, orgId);
    setSelected(orgId);
    setViewed(undefined);
  }, []);
  const viewOrganization = useCallback(
    (org: Organization | undefined) => {
      // An operator who is a member of it sees it as a member.
      if (org && organizations?.some((o) => o.id === org.id)) selectOrganization(org.id);
      else setViewed(org);
    },
    [organizations, selectOrganization],
  );

  const viewing = Boolean(viewed && user.isOperator);
  const organization: CurrentOrganization | undefined = viewing ? { ...viewed!, role: undefined } : (organizations?.find((o) => o.id === selected) ?? organizations?.[0]);
  const role = organization?.role;
  const owner = role === 'owner';
  const session: Session = {
    config,
    auth,
    user,
    api,
    organizations,
    organizationsError,
    reloadOrganizations,
    organization,
    selectOrganization,
    viewOrganization,
    viewing,
    role,
    canManageKeys: owner,
    canManageAssistants: owner,
    canManageDatabases: owner || role === 'admin',
    canManageMembers: owner,
    canReadAuditLog: owner || role === 'admin' || user.isOperator,
  };
  return <SessionContext.Provider value={session}>{props.children}</SessionContext.Provider>;
}
