/**
 * Sign-in (`/api/v1/auth/token`, `/api/v1/whoami`), local accounts, settings, the audit trail, the cluster's
 * identity and token signing keys.
 * @module
 */
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { generatePassword, hashPassword } from "@tessera/service";
import { parsePcrSelection, selectedPcrs } from "@tessera/tpm2";
import type { Hono } from "hono";
import { clusterIdentity } from "../identity.ts";
import type { AccountRecord } from "../store/store.ts";
import { badField, compact, iso, isoOpt, notFound, principalOf, type AdminContext } from "./admin_context.ts";
import { AddAccountRequest, LoginRequest, PatchSettingsRequest } from "./admin_schemas.ts";

/** The PCR selection settings accept: tpm2-tools syntax, PCRs 0–23, each bank once. */
function checkPcrSelection(spec: string): string {
  let sels;
  try {
    sels = parsePcrSelection(spec);
  } catch (cause) {
    throw badField("pcrSelection", (cause as Error).message, cause);
  }
  const banks = new Set<number>();
  for (const s of sels) {
    if (banks.has(s.hash)) throw badField("pcrSelection", "a bank is named twice");
    banks.add(s.hash);
    const pcrs = selectedPcrs(s);
    if (pcrs.length === 0) throw badField("pcrSelection", "selects no PCR");
    if (pcrs.some((p) => p > 23)) throw badField("pcrSelection", "PCRs are 0-23");
  }
  return spec.replace(/\s+/g, "");
}

function accountView(a: AccountRecord): Record<string, unknown> {
  return { user: a.user, groups: a.groups, createdAt: iso(a.createdAt) };
}

/** Registers sign-in, accounts, settings, audit, identity and signing-key routes on `app`. */
export function serviceRoutes(app: Hono<ServiceEnv>, ctx: AdminContext): void {
  const { deps } = ctx;

  app.post("/api/v1/auth/token", async (c) => {
    const { user, password } = await readJson(c, LoginRequest);
    // The Node adapter puts the socket in env; app.request() has none (one "local" client).
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
    const session = await ctx.auth.login(user, password, env?.incoming?.socket?.remoteAddress ?? "local");
    c.get("log").info({ user }, "signed in");
    return c.json(session);
  });

  app.get("/api/v1/whoami", ctx.read, (c) => {
    const p = principalOf(c);
    return c.json({ subject: p.subject, groups: p.groups, issuer: p.issuer });
  });

  app.get("/api/v1/accounts", ctx.write, async (c) => {
    const accounts = await deps.store.listAccounts();
    return c.json({ accounts: accounts.map(accountView) });
  });

  app.post("/api/v1/accounts", ctx.write, async (c) => {
    const body = await readJson(c, AddAccountRequest);
    if ((await deps.store.getAccount(body.user)) !== undefined) throw new ProblemError("account-exists", 409, `account ${body.user} exists already`);
    const password = body.password ?? generatePassword();
    const account: AccountRecord = {
      user: body.user,
      passwordHash: await hashPassword(password),
      groups: [...new Set(body.groups)],
      createdAt: deps.clock.now(),
    };
    await deps.store.putAccount(account);
    await ctx.audit.record(principalOf(c), "account.add", account.user, { groups: account.groups });
    // A generated password is shown once, here; it is stored only as its hash.
    return c.json({ account: accountView(account), ...(body.password === undefined ? { password } : {}) }, 201);
  });

  app.delete("/api/v1/accounts/:user", ctx.write, async (c) => {
    const user = c.req.param("user");
    if (user === principalOf(c).subject && principalOf(c).issuer === deps.config.publicUrl) {
      throw new ProblemError("conflict", 409, "an administrator cannot remove their own account");
    }
    if (!(await deps.store.removeAccount(user))) throw notFound(`no account ${user}`);
    await ctx.audit.record(principalOf(c), "account.remove", user);
    return c.json({ removed: user });
  });

  app.get("/api/v1/settings", ctx.read, async (c) => c.json(await deps.settings()));

  app.patch("/api/v1/settings", ctx.write, async (c) => {
    const patch = await readJson(c, PatchSettingsRequest);
    const changes: Record<string, unknown> = compact({
      ...patch,
      ...(patch.pcrSelection === undefined ? {} : { pcrSelection: checkPcrSelection(patch.pcrSelection) }),
    });
    if (Object.keys(changes).length === 0) throw new ProblemError("bad-request", 400, "nothing to change: give at least one setting");
    // Read-modify-write under the cluster lock: two administrators patching different fields both win.
    await deps.store.withLock("settings", async () => {
      const stored = (await deps.store.getSettings()) ?? {};
      await deps.store.putSettings({ ...stored, ...changes });
    });
    await ctx.audit.record(principalOf(c), "settings.update", "settings", { changes });
    return c.json(await deps.settings());
  });

  app.get("/api/v1/audit", ctx.read, async (c) => {
    const raw = c.req.query("limit") ?? "100";
    const limit = Number(raw);
    if (!/^\d+$/.test(raw) || limit < 1 || limit > 10000) throw new ProblemError("bad-request", 400, "query parameter limit: an integer 1-10000");
    const entries = await deps.store.listAudit(limit);
    return c.json({
      entries: entries.map((e) => compact({ id: e.id, at: iso(e.at), actor: e.actor, action: e.action, target: e.target, details: e.details })),
    });
  });

  app.get("/api/v1/identity", ctx.read, async (c) => {
    const identity = await clusterIdentity(deps, ctx.options);
    c.header("content-disposition", `attachment; filename="${identity.cluster.replace(/[^A-Za-z0-9._-]/g, "_")}-identity.json"`);
    return c.json(identity);
  });

  app.get("/api/v1/signing-keys", ctx.read, async (c) => {
    const keys = await deps.store.listSigningKeys();
    const active = keys.filter((k) => k.retiredAt === undefined).sort((a, b) => b.createdAt - a.createdAt)[0]?.kid;
    return c.json({
      keys: keys.map((k) =>
        compact({
          kid: k.kid,
          createdAt: iso(k.createdAt),
          retiredAt: isoOpt(k.retiredAt),
          lastTokenExpiresAt: isoOpt(k.lastTokenExpiresAt),
          active: k.kid === active,
        }),
      ),
    });
  });

  app.post("/api/v1/signing-keys/rotate", ctx.write, async (c) => {
    const rotated = await deps.signing.rotate();
    await ctx.audit.record(principalOf(c), "signing-key.rotate", rotated.kid, compact({ retired: rotated.retired }));
    return c.json(compact({ kid: rotated.kid, retired: rotated.retired }));
  });
}
