// Plan, billing and credits of an organization. Everyone sees them; operators (platform staff)
// change the plan, an enterprise organization's limits, how replies are billed, and grant credits
// with a reason, for any organization.
import { useEffect, useState } from 'preact/hooks';
import type { Billing, Organization, Plan } from '../../../api/management.ts';
import { useSession } from '../session.tsx';
import { ActionForm, Field, FormActions, formatNumber, LoadedView, Select, useAction, useLoad } from '../ui.tsx';

const PLANS: Plan[] = ['free', 'starter', 'pro', 'enterprise'];
const BILLING_MODES = [
  { value: 'reply', label: 'Per reply' },
  { value: 'tokens', label: 'Per tokens' },
] as const;

/** "One credit per reply", or the token rates in words. */
export function billingText(billing: Billing | undefined): string {
  if (!billing || billing.mode === 'reply') return 'One credit per reply';
  return `${formatNumber(billing.inputPer1k)} credits per 1,000 input tokens, ${formatNumber(billing.outputPer1k)} per 1,000 output tokens`;
}

/** A form field's value read from the organization, read again whenever the organization reloads. */
function useOrganizationValue<T>(org: Organization, read: (org: Organization) => T): [T, (value: T) => void] {
  const [value, setValue] = useState(() => read(org));
  useEffect(() => setValue(read(org)), [org]);
  return [value, setValue];
}

function BillingForm(props: { org: Organization; onSaved: (text: string) => void }) {
  const { api } = useSession();
  const { org } = props;
  const current = org.billing;
  const [mode, setMode] = useState<Billing['mode']>(current?.mode ?? 'reply');
  const [input, setInput] = useState(current?.mode === 'tokens' ? String(current.inputPer1k) : '');
  const [output, setOutput] = useState(current?.mode === 'tokens' ? String(current.outputPer1k) : '');
  const save = useAction();
  useEffect(() => {
    setMode(org.billing?.mode ?? 'reply');
    if (org.billing?.mode === 'tokens') {
      setInput(String(org.billing.inputPer1k));
      setOutput(String(org.billing.outputPer1k));
    }
  }, [org]);
  return (
    <ActionForm
      class="card"
      action={save}
      run={async () => {
        const billing: Billing = mode === 'tokens' ? { mode, inputPer1k: Number(input), outputPer1k: Number(output) } : { mode: 'reply' };
        await api.updatePlan(org.id, { billing });
        return billing;
      }}
      onDone={(billing) => props.onSaved(`Billing saved: ${billingText(billing).toLowerCase()}.`)}
    >
      <h2>Billing</h2>
      <Select label="Billing" value={mode} options={BILLING_MODES} onValue={setMode} />
      {mode === 'tokens' ? (
        <>
          <p class="hint" id="billing-hint">
            Whole credits per 1,000 tokens; a reply costs (input tokens × input rate + output tokens × output rate) / 1,000, rounded up.
          </p>
          <div class="field-row">
            <Field label="Credits per 1,000 input tokens" type="number" min={0} step={1} required value={input} onValue={setInput} aria-describedby="billing-hint" />
            <Field label="Credits per 1,000 output tokens" type="number" min={0} step={1} required value={output} onValue={setOutput} aria-describedby="billing-hint" />
          </div>
        </>
      ) : null}
      <FormActions action={save} submit="Save billing" />
    </ActionForm>
  );
}

function OperatorControls(props: { org: Organization; onChanged: () => void }) {
  const { api } = useSession();
  const { org } = props;
  const [plan, setPlan] = useOrganizationValue(org, (o): Plan => o.plan);
  const [perMinute, setPerMinute] = useOrganizationValue(org, (o) => String(o.limits.perMinute));
  const [perDay, setPerDay] = useOrganizationValue(org, (o) => String(o.limits.perDay));
  const [tokensPerMinute, setTokensPerMinute] = useOrganizationValue(org, (o) => String(o.limits.tokensPerMinute ?? ''));
  const [tokensPerDay, setTokensPerDay] = useOrganizationValue(org, (o) => String(o.limits.tokensPerDay ?? ''));
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState('');
  const save = useAction();
  const grant = useAction();
  return (
    <>
      <ActionForm
        class="card"
        action={save}
        run={() => {
          setNotice('');
          // Blank token limits: none (the whole limits object is replaced).
          const limits = {
            perMinute: Number(perMinute),
            perDay: Number(perDay),
            ...(tokensPerMinute.trim() ? { tokensPerMinute: Number(tokensPerMinute) } : {}),
            ...(tokensPerDay.trim() ? { tokensPerDay: Number(tokensPerDay) } : {}),
          };
          return api.updatePlan(org.id, plan === 'enterprise' ? { plan, limits } : { plan });
        }}
        onDone={() => {
          setNotice(`Plan saved: ${plan}.`);
          props.onChanged();
        }}
      >
        <h2>Change the plan</h2>
        <Select label="Plan" value={plan} options={PLANS.map((p) => ({ value: p, label: p }))} onValue={setPlan} />
        {plan === 'enterprise' ? (
          <>
            <Field label="Requests per minute" type="number" min={1} step={1} required value={perMinute} onValue={setPerMinute} />
            <Field label="Requests per day" type="number" min={1} step={1} required value={perDay} onValue={setPerDay} />
            <Field label="Tokens per minute" type="number" min={1} step={1} value={tokensPerMinute} onValue={setTokensPerMinute} placeholder="No limit" />
            <Field label="Tokens per day" type="number" min={1} step={1} value={tokensPerDay} onValue={setTokensPerDay} placeholder="No limit" />
          </>
        ) : null}
        <FormActions action={save} submit="Save plan" />
      </ActionForm>
      <BillingForm
        org={org}
        onSaved={(text) => {
          setNotice(text);
          props.onChanged();
        }}
      />
      <ActionForm
        class="card"
        action={grant}
        run={() => {
          setNotice('');
          return api.grantCredits(org.id, Number(amount), reason.trim() || undefined);
        }}
        onDone={({ credits }) => {
          setNotice(`Credits granted. The balance is now ${formatNumber(credits)}.`);
          setAmount('');
          setReason('');
          props.onChanged();
        }}
      >
        <h2>Grant credits</h2>
        <Field label="Credits" type="number" step={1} required value={amount} onValue={setAmount} aria-describedby="credits-hint">
          <span class="hint" id="credits-hint">A whole number; negative to take credits back.</span>
        </Field>
        <Field label="Reason" value={reason} onValue={setReason} maxLength={200} />
        <FormActions action={grant} submit="Grant credits" />
      </ActionForm>
      <p role="status" class="status">
        {notice}
      </p>
    </>
  );
}

export function PlanPage() {
  const { api, user, organization, organizations, viewOrganization } = useSession();
  // Operators arrive from All organizations with ?org=<id>.
  const asked = user.isOperator ? new URLSearchParams(window.location.search).get('org') : null;
  const [orgId, setOrgId] = useState(asked ?? organization?.id ?? '');
  const [lookup, setLookup] = useState(orgId);
  useEffect(() => {
    // The page follows the organization shown, unless it was opened for another one.
    if (organization && (!asked || organization.id === asked)) {
      setOrgId(organization.id);
      setLookup(organization.id);
    }
  }, [organization?.id]);
  const org = useLoad(() => (orgId ? api.getOrganization(orgId) : Promise.resolve(undefined)), [orgId]);
  // An operator who opens an organization they are not in views the rest of it (keys, members, ...) read only.
  useEffect(() => {
    if (user.isOperator && organizations && org.data && org.data.id !== organization?.id) viewOrganization(org.data);
  }, [org.data?.id, organizations]);
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
      <LoadedView loaded={org} loading="Loading…">
        {(data) => (
          <>
            <dl class="facts">
              <dt>Organization</dt>
              <dd>{data.name}</dd>
              <dt>Plan</dt>
              <dd>{data.plan}</dd>
              <dt>Limits</dt>
              <dd>
                {formatNumber(data.limits.perMinute)} requests per minute, {formatNumber(data.limits.perDay)} per day
              </dd>
              {data.limits.tokensPerMinute !== undefined || data.limits.tokensPerDay !== undefined ? (
                <>
                  <dt>Token limits</dt>
                  <dd>
                    {data.limits.tokensPerMinute !== undefined ? `${formatNumber(data.limits.tokensPerMinute)} tokens per minute` : 'no limit per minute'},{' '}
                    {data.limits.tokensPerDay !== undefined ? `${formatNumber(data.limits.tokensPerDay)} per day` : 'no limit per day'}
                  </dd>
                </>
              ) : null}
              <dt>Billing</dt>
              <dd>{billingText(data.billing)}</dd>
              <dt>Credits</dt>
              <dd>{formatNumber(data.credits)}</dd>
              {data.creditsHeld ? (
                <>
                  <dt>Held</dt>
                  <dd>{formatNumber(data.creditsHeld)} credits held by replies in progress (returned or charged when they end)</dd>
                </>
              ) : null}
            </dl>
            {user.isOperator ? <OperatorControls org={data} onChanged={org.reload} /> : <p>Platform operators change plans, billing and credits.</p>}
          </>
        )}
      </LoadedView>
    </>
  );
}
