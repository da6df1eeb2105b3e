/**
 * The smallest `Reflect` metadata API that @peculiar/x509's dependency tsyringe needs at load
 * time (it throws on import without one). The workspace has no `reflect-metadata` package, and
 * a util lib should not pull one in for three functions, so this installs `defineMetadata`,
 * `getMetadata` and `getOwnMetadata` (plus `hasMetadata`/`hasOwnMetadata`) when they are
 * missing. It never replaces an existing implementation.
 *
 * Must be imported before `@peculiar/x509` (see `_x509.ts`).
 *
 * @module
 */

type MetadataKey = unknown;
type PropertyKeyOrNone = string | symbol | undefined;

const store = new WeakMap<object, Map<PropertyKeyOrNone, Map<MetadataKey, unknown>>>();

function ownMap(target: object, propertyKey: PropertyKeyOrNone, create: boolean): Map<MetadataKey, unknown> | undefined {
  let byProperty = store.get(target);
  if (byProperty === undefined) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let map = byProperty.get(propertyKey);
  if (map === undefined && create) {
    map = new Map();
    byProperty.set(propertyKey, map);
  }
  return map;
}

function getOwnMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): unknown {
  return ownMap(target, propertyKey, false)?.get(key);
}

function hasOwnMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): boolean {
  return ownMap(target, propertyKey, false)?.has(key) ?? false;
}

function hasMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): boolean {
  for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
    if (hasOwnMetadata(key, t, propertyKey)) return true;
  }
  return false;
}

function getMetadata(key: MetadataKey, target: object, propertyKey?: string | symbol): unknown {
  for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
    const map = ownMap(t, propertyKey, false);
    if (map?.has(key)) return map.get(key);
  }
  return undefined;
}

function defineMetadata(key: MetadataKey, value: unknown, target: object, propertyKey?: string | symbol): void {
  ownMap(target, propertyKey, true)?.set(key, value);
}

const reflect = Reflect as unknown as Record<string, unknown>;
const api: Record<string, unknown> = {
  defineMetadata,
  getMetadata,
  getOwnMetadata,
  hasMetadata,
  hasOwnMetadata,
};
if (typeof reflect["getMetadata"] !== "function") {
  for (const [name, fn] of Object.entries(api)) {
    if (typeof reflect[name] !== "function") reflect[name] = fn;
  }
}
