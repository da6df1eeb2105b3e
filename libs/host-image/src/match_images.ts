/**
 * Matching what a host measured against the accepted images.
 * @module
 */
import type { BankDigests, FileComponent, ImageModel } from "./image.ts";

/** One component where the host differs from an image. */
export interface ImageDifference {
  /** The component: `bootChain[3] (kernel \vmlinuz-6.1)`, `kernel`, `initrd`, `kernelCommandLine`, `secureBoot.enabled`, `secureBoot.db`, `softwareVersion`, `firmware`. */
  readonly component: string;
  /** What differs, in words. */
  readonly detail: string;
  /** The bank compared, for a digest. */
  readonly bank?: string;
  /** What the image has. */
  readonly expected?: string;
  /** What the host measured. */
  readonly measured?: string;
}

/** How one image compares with the host. */
export interface ImageComparison {
  /** The image. */
  readonly image: ImageModel;
  /** Where the host differs (empty when it matches). */
  readonly differences: readonly ImageDifference[];
}

/** The result of {@link matchImages}. */
export type ImageMatch =
  | { readonly matched: true; readonly image: ImageModel }
  | {
      readonly matched: false;
      /** Every image with its differences, in the order given. */
      readonly comparisons: readonly ImageComparison[];
      /** The image with the fewest differences (the first of equals); absent when there are no images. */
      readonly closest?: ImageComparison;
    };

function label(kind: string | undefined, path: string | undefined): string {
  const parts = [kind, path].filter((p) => p !== undefined);
  return parts.length === 0 ? "" : ` (${parts.join(" ")})`;
}

function compareDigests(component: string, expected: BankDigests, measured: BankDigests, out: ImageDifference[]): void {
  const common = Object.keys(expected).filter((b) => measured[b] !== undefined);
  if (common.length === 0) {
    out.push({
      component,
      detail: `no bank in common: the image has ${Object.keys(expected).join(", ")}, the host measured ${Object.keys(measured).join(", ") || "none"}`,
    });
    return;
  }
  for (const bank of common) {
    if (expected[bank] !== measured[bank]) {
      out.push({ component, detail: `${bank} digest differs`, bank, expected: expected[bank], measured: measured[bank] });
      return;
    }
  }
}

function compareFile(component: string, expected: FileComponent | undefined, measured: FileComponent | undefined, out: ImageDifference[]): void {
  if (expected === undefined) return;
  if (measured === undefined) {
    out.push({ component, detail: `the image has a ${component}${label(undefined, expected.path)}, the host measured none` });
    return;
  }
  if (expected.path !== undefined && measured.path !== undefined && expected.path !== measured.path) {
    out.push({ component, detail: "path differs", expected: expected.path, measured: measured.path });
    return;
  }
  compareDigests(`${component}${label(undefined, measured.path ?? expected.path)}`, expected.digests, measured.digests, out);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function firmwareMatches(image: ImageModel, measured: ImageModel): boolean {
  const wanted = image.firmware ?? [];
  return (measured.firmware ?? []).some((m) =>
    wanted.some((w) => {
      if (w.model !== m.model) return false;
      const banks = Object.keys(w.pcrs).filter((b) => m.pcrs[b] !== undefined);
      return banks.length > 0 && banks.every((b) => Object.entries(w.pcrs[b]).every(([pcr, v]) => m.pcrs[b][pcr] === v));
    }),
  );
}

/** The differences between what a host measured and one image; empty when it matches. */
export function compareImage(measured: ImageModel, image: ImageModel): ImageDifference[] {
  const out: ImageDifference[] = [];
  const n = Math.max(image.bootChain.length, measured.bootChain.length);
  for (let i = 0; i < n; i++) {
    const e = image.bootChain[i];
    const m = measured.bootChain[i];
    const samePath = e !== undefined && m !== undefined && e.path?.toLowerCase() === m.path?.toLowerCase();
    const component = `bootChain[${i}]${m === undefined ? label(e?.kind, e?.path) : label(m.kind ?? (samePath ? e?.kind : undefined), m.path ?? e?.path)}`;
    if (e === undefined) {
      out.push({ component, detail: "the host loaded a boot application the image does not have", measured: m.path });
      continue;
    }
    if (m === undefined) {
      out.push({ component, detail: "the image has a boot application the host did not load", expected: e.path });
      continue;
    }
    if (e.path !== undefined && m.path !== undefined && e.path.toLowerCase() !== m.path.toLowerCase()) {
      out.push({ component, detail: "path differs", expected: e.path, measured: m.path });
      continue;
    }
    compareDigests(component, e.digests, m.digests, out);
    if (e.authority !== m.authority) {
      out.push({ component, detail: "verified by another Secure Boot authority", expected: e.authority ?? "none", measured: m.authority ?? "none" });
    }
  }
  compareFile("kernel", image.kernel, measured.kernel, out);
  compareFile("initrd", image.initrd, measured.initrd, out);
  if (image.kernelCommandLine !== undefined && image.kernelCommandLine !== measured.kernelCommandLine) {
    out.push({
      component: "kernelCommandLine",
      detail: "the kernel command line differs",
      expected: image.kernelCommandLine,
      measured: measured.kernelCommandLine ?? "none",
    });
  }
  if (image.secureBoot.enabled !== measured.secureBoot.enabled) {
    out.push({
      component: "secureBoot.enabled",
      detail: `Secure Boot is ${measured.secureBoot.enabled ? "on" : "off"}, the image has it ${image.secureBoot.enabled ? "on" : "off"}`,
      expected: String(image.secureBoot.enabled),
      measured: String(measured.secureBoot.enabled),
    });
  }
  for (const db of ["pk", "kek", "db", "dbx"] as const) {
    const e = image.secureBoot[db];
    const m = measured.secureBoot[db];
    if (!sameList(e, m)) {
      out.push({
        component: `secureBoot.${db}`,
        detail: `the ${db.toUpperCase()} entries differ (${e.length} in the image, ${m.length} measured)`,
        expected: e.join(","),
        measured: m.join(","),
      });
    }
  }
  if (image.softwareVersion !== undefined && image.softwareVersion !== measured.softwareVersion) {
    out.push({
      component: "softwareVersion",
      detail: "the software version differs",
      expected: image.softwareVersion,
      measured: measured.softwareVersion ?? "none",
    });
  }
  if ((image.firmware ?? []).length > 0 && !firmwareMatches(image, measured)) {
    const models = (image.firmware ?? []).map((f) => f.model).join(", ");
    out.push({
      component: "firmware",
      detail: `the firmware PCRs 0–6 match no hardware model of the image (${models})`,
      expected: models,
      measured: (measured.firmware ?? []).map((f) => f.model).join(", ") || "none",
    });
  }
  return out;
}

/**
 * Matches what a host measured (an image made from its log with `imageFromEventLog`) against the accepted
 * images: the first image with no difference, or for each image the components that differ, and the
 * closest image (fewest differences). Fail closed: no images, no match.
 */
export function matchImages(measured: ImageModel, images: readonly ImageModel[]): ImageMatch {
  const comparisons: ImageComparison[] = [];
  for (const image of images) {
    const differences = compareImage(measured, image);
    if (differences.length === 0) return { matched: true, image };
    comparisons.push({ image, differences });
  }
  let closest: ImageComparison | undefined;
  for (const c of comparisons) if (closest === undefined || c.differences.length < closest.differences.length) closest = c;
  return closest === undefined ? { matched: false, comparisons } : { matched: false, comparisons, closest };
}
