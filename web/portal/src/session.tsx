// The signed-in state every page reads: the API client, the user, their organizations, the one
// selected, and what the user's role there lets the page show. The API stays the only place that
// enforces roles (docs/api.md section 9); this only decides which controls to offer.
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { ManagementClient, type Membership, type Role } from '../../api/management.ts';
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
  /** The selected organization (undefined while loading or when the user has none). */
  organization: Membership | undefined;
  selectOrganization: (orgId: string) => void;
  role: Role | undefined;
  /** Owner controls: owners of this org, and operators (who may change any org). */
  canManageKeys: boolean;
  canManageDatabases: boolean;
  canManageMembers: boolean;
  canReadAuditLog: boolean;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** The selected organization; pages under /organization render only when there is one. */
export function useOrganization(): Membership {
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

  const selectOrganization = useCallback((orgId: string) => {
    localStorage.setItem(SELECTED_ORG, orgId);
    setSelected(orgId);
  }, []);

  const organization = organizations?.find((o) => o.id === selected) ?? organizations?.[0];
  const role = organization?.role;
  const owner = role === 'owner' || user.isOperator;
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
    role,
    canManageKeys: owner,
    canManageDatabases: owner || role === 'admin',
    canManageMembers: owner,
    canReadAuditLog: owner || role === 'admin',
  };
  return <SessionContext.Provider value={session}>{props.children}</SessionContext.Provider>;
}
