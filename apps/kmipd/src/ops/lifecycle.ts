/**
 * The object lifecycle (KMIP 1.4 §3.22 / 2.1 §3.19): Activate, Revoke, Destroy, with their dates.
 * @module
 */
import { child, dateTime, enumeration, enumName, item } from "@tessera/kmip";
import type { Handler } from "../context.ts";
import { OperationError } from "../errors.ts";
import { idItem, loadOwnObject, saveObject, setAttr, setState, STATE } from "../objects.ts";

/** Activate: Pre-Active → Active. */
export const activate: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  if (o.state !== STATE.PreActive) throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is ${enumName("State", o.state)}, not PreActive`);
  setAttr(o, "ActivationDate", item("ActivationDate", ctx.now()));
  setState(ctx, o, STATE.Active);
  await saveObject(ctx, o);
  return [idItem(o)];
};

/** Revoke: Key Compromise / CA Compromise → Compromised; any other reason: Active → Deactivated. */
export const revoke: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const reason = child(payload, "RevocationReason");
  const code = enumeration(reason, "RevocationReasonCode");
  if (code === undefined) throw new OperationError("InvalidField", "Revoke needs a RevocationReason with a RevocationReasonCode");
  const codeName = enumName("RevocationReasonCode", code);
  if (codeName === "KeyCompromise" || codeName === "CACompromise") {
    if (o.state === STATE.Destroyed || o.state === STATE.DestroyedCompromised || o.state === STATE.Compromised) {
      throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is ${enumName("State", o.state)}`);
    }
    const occurred = dateTime(payload, "CompromiseOccurrenceDate");
    setAttr(o, "CompromiseOccurrenceDate", item("CompromiseOccurrenceDate", occurred ?? BigInt(Math.floor(ctx.now().getTime() / 1000))));
    setAttr(o, "CompromiseDate", item("CompromiseDate", ctx.now()));
    setState(ctx, o, STATE.Compromised);
  } else {
    if (o.state !== STATE.Active)
      throw new OperationError(
        "WrongKeyLifecycleState",
        `object ${o.id} is ${enumName("State", o.state)}; only an Active object can be revoked for ${codeName}`,
      );
    setAttr(o, "DeactivationDate", item("DeactivationDate", ctx.now()));
    setState(ctx, o, STATE.Deactivated);
  }
  if (reason) setAttr(o, "RevocationReason", { ...reason });
  await saveObject(ctx, o);
  return [idItem(o)];
};

/** Destroy: the key material is erased; Active objects must be revoked first. */
export const destroy: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  if (o.state === STATE.Active) throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is Active: revoke it before destroying it`);
  if (o.state === STATE.Destroyed || o.state === STATE.DestroyedCompromised)
    throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is already destroyed`);
  o.material = null;
  setAttr(o, "DestroyDate", item("DestroyDate", ctx.now()));
  setState(ctx, o, o.state === STATE.Compromised ? STATE.DestroyedCompromised : STATE.Destroyed);
  await saveObject(ctx, o);
  return [idItem(o)];
};
