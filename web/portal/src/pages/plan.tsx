// Plan and credits of an organization. Everyone sees them; operators (platform staff) change the
// plan, an enterprise organization's limits, and grant credits with a reason, for any organization.
import { useEffect, useState } from 'preact/hooks';
import type { Organization, Plan } from '../../../api/management.ts';
import { useSession } from '../session.tsx';
import { ErrorAlert, Field, FormActions, formatNumber, Select, useAction, useLoad } from '../ui.tsx';

const PLANS: Plan[] = ['free', 'starter', 'pro', 'enterprise'];

function OperatorControls(props: { org: Organization; onChanged: () => void }) {
  const { api } = useSession();
  const { org } = props;
  const [plan, setPlan] = useState<Plan>(org.plan);
  const [perMinute, setPerMinute] = useState(String(org.limits.perMinute));
  const [perDay, setPerDay] = useState(String(org.limits.perDay));
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState('');
  const save = useAction();
  const grant = useAction();
  useEffect(() => {
    setPlan(org.plan);
    setPerMinute(String(org.limits.perMinute));
    setPerDay(String(org.limits.perDay));
  }, [org]);
  return (
    <>
      <form
        class="card"
        onSubmit={async (event) => {
          event.preventDefault();
          setNotice('');
          const change = plan === 'enterprise' ? { plan, limits: { perMinute: Number(perMinute), perDay: Number(perDay) } } : { plan };
          if (await save.run(() => api.updatePlan(org.id, change))) {
            setNotice(`Plan saved: ${plan}.`);
            props.onChanged();
          }
        }}
      >
        <h2>Change the plan</h2>
        <Select label="Plan" value={plan} options={PLANS.map((p) => ({ value: p, label: p }))} onValue={setPlan} />
        {plan === 'enterprise' ? (
          <>
            <Field label="Requests per minute" type="number" min={1} step={1} required value={perMinute} onValue={setPerMinute} />
            <Field label="Requests per day" type="number" min={1} step={1} required value={perDay} onValue={setPerDay} />
          </>
        ) : null}
        <FormActions action={save} submit="Save plan" />
      </form>
      <form
        class="card"
        onSubmit={async (event) => {
          event.preventDefault();
          setNotice('');
          let balance = 0;
          if (await grant.run(async () => { balance = (await api.grantCredits(org.id, Number(amount), reason.trim() || undefined)).credits; })) {
            setNotice(`Credits granted. The balance is now ${formatNumber(balance)}.`);
            setAmount('');
            setReason('');
            props.onChanged();
          }
        }}
      >
        <h2>Grant credits</h2>
        <Field label="Credits" type="number" step={1} required value={amount} onValue={setAmount} aria-describedby="credits-hint">
          <span class="hint" id="credits-hint">A whole number; negative to take credits back.</span>
        </Field>
        <Field label="Reason" value={reason} onValue={setReason} maxLength={200} />
        <FormActions action={grant} submit="Grant credits" />
      </form>
      <p role="status" class="status">
        {notice}
      </p>
    </>
  );
}

export function PlanPage() {
  const { api, user, organization } = useSession();
  // Operators arrive from All organizations with ?org=<id>.
  const asked = user.isOperator ? new URLSearchParams(window.location.search).get('org') : null;
  const [orgId, setOrgId] = useState(asked ?? organization?.id ?? '');
  const [lookup, setLookup] = useState(orgId);
  useEffect(() => {
    if (organization && !asked) {
      setOrgId(organization.id);
      setLookup(organization.id);
    }
  }, [organization?.id]);
  const org = useLoad(() => (orgId ? api.getOrganization(orgId) : Promise.resolve(undefined)), [orgId]);
  return (
    <>
      <h1>Plan and credits</h1>
      {user.isOperator ? (
        <form
          class="filters"
          onSubmit={(event) => {
            event.preventDefault();
            setOrgId(lookup.trim());
          }}
        >
          <Field label="Organization ID" value={lookup} onValue={setLookup} class="mono" spellcheck={false} />
          <button type="submit">Open organization</button>
        </form>
      ) : null}
      <ErrorAlert error={org.error} />
      {org.data ? (
        <>
          <dl class="facts">
            <dt>Organization</dt>
            <dd>{org.data.name}</dd>
            <dt>Plan</dt>
            <dd>{org.data.plan}</dd>
            <dt>Limits</dt>
            <dd>
              {formatNumber(org.data.limits.perMinute)} requests per minute, {formatNumber(org.data.limits.perDay)} per day
            </dd>
            <dt>Credits</dt>
            <dd>{formatNumber(org.data.credits)}</dd>
          </dl>
          {user.isOperator ? <OperatorControls org={org.data} onChanged={org.reload} /> : <p>Platform operators change plans and credits.</p>}
        </>
      ) : org.loading ? (
        <p role="status">Loading…</p>
      ) : null}
    </>
  );
}
