/**
 * Accepted host images (`/api/v1/images`): added from a known-good host's event log, a libs/boot manifest,
 * or an image model; listed, shown per name, removed per version or whole.
 * @module
 */
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { HostImageError, imageFromEventLog, imageFromManifest, validateImage, type HostImage, type ImageModel } from "@tessera/host-image";
import type { Hono } from "hono";
import type { ImageRecord } from "../store/store.ts";
import { badField, fromBase64, iso, notFound, principalOf, type AdminContext } from "./admin_context.ts";
import { AddImageRequest, ImageName, ImageVersion } from "./admin_schemas.ts";

/** One line about an image: what an administrator recognises it by. */
export function imageSummary(image: ImageModel): string {
  const parts: string[] = [];
  const kernel = image.kernel?.path ?? image.bootChain.find((b) => b.kind === "kernel")?.path;
  if (kernel !== undefined) parts.push(`kernel ${kernel}`);
  parts.push(`${image.bootChain.length} boot application${image.bootChain.length === 1 ? "" : "s"}`);
  parts.push(`Secure Boot ${image.secureBoot.enabled ? "on" : "off"}`);
  if (image.softwareVersion !== undefined) parts.push(`software ${image.softwareVersion}`);
  if (image.firmware !== undefined && image.firmware.length > 0) parts.push(`firmware ${image.firmware.map((f) => f.model).join(", ")}`);
  return parts.join(", ");
}

function summaryView(r: ImageRecord): Record<string, unknown> {
  return { name: r.name, version: r.version, addedAt: iso(r.addedAt), summary: imageSummary(r.image) };
}

/** A HostImageError as a 400 naming the request field it came from. */
function imageProblem(e: unknown, requestField: string): never {
  if (e instanceof HostImageError) {
    // The error's field is rooted at `manifest`/`image`; the request's field at the same name.
    const field = e.field === undefined ? requestField : e.field.replace(/^(manifest|image)/, requestField);
    throw badField(field, e.message, e);
  }
  throw e;
}

function buildImage(body: ReturnType<typeof AddImageRequest.parse>): { image: ImageModel; source: string } {
  const sources = (["eventLog", "manifest", "image"] as const).filter((k) => body[k] !== undefined);
  if (sources.length !== 1) {
    throw badField(sources[1] ?? "eventLog", sources.length === 0 ? "give one of eventLog, manifest or image" : `give only one of ${sources.join(", ")}`);
  }
  const source = sources[0];
  if (body.firmware === true && source !== "eventLog") throw badField("firmware", "firmware PCRs can only be recorded from an event log");
  if (body.firmwareModel !== undefined && body.firmware !== true) throw badField("firmwareModel", "only with firmware: true");
  try {
    if (source === "eventLog") {
      const image = imageFromEventLog(fromBase64(body.eventLog ?? ""), {
        name: body.name,
        version: body.version,
        ...(body.firmware === true ? { firmwareModel: body.firmwareModel ?? body.name } : {}),
      });
      return { image, source };
    }
    if (source === "manifest") return { image: imageFromManifest(body.manifest as unknown as HostImage, { name: body.name, version: body.version }), source };
    const image = validateImage({ ...body.image, name: body.name, version: body.version });
    return { image, source };
  } catch (e) {
    return imageProblem(e, source);
  }
}

/** Registers the image routes on `app`. */
export function imageRoutes(app: Hono<ServiceEnv>, ctx: AdminContext): void {
  const { deps } = ctx;

  app.get("/api/v1/images", ctx.read, async (c) => {
    const images = await deps.store.listImages();
    return c.json({ images: images.map(summaryView) });
  });

  app.post("/api/v1/images", ctx.write, async (c) => {
    const body = await readJson(c, AddImageRequest);
    const { image, source } = buildImage(body);
    const record: ImageRecord = { name: body.name, version: body.version, image, addedAt: deps.clock.now() };
    if (!(await deps.store.addImage(record))) {
      throw new ProblemError("image-exists", 409, `image ${body.name} version ${body.version} exists already; add a new version`);
    }
    await ctx.audit.record(principalOf(c), "image.add", `${body.name}@${body.version}`, { source, summary: imageSummary(image) });
    return c.json({ image: { ...summaryView(record), model: image } }, 201);
  });

  app.get("/api/v1/images/:name", ctx.read, async (c) => {
    const name = c.req.param("name");
    const versions = await deps.store.getImage(name);
    if (versions.length === 0) throw notFound(`no image ${name}`);
    return c.json({ name, versions: versions.map((v) => ({ ...v.image, addedAt: iso(v.addedAt) })) });
  });

  app.delete("/api/v1/images/:name", ctx.write, async (c) => {
    const name = ImageName.safeParse(c.req.param("name"));
    if (!name.success) throw new ProblemError("bad-request", 400, `bad image name: ${name.error.issues[0]?.message ?? "invalid"}`);
    const v = c.req.query("version");
    if (v !== undefined && !ImageVersion.safeParse(v).success) throw new ProblemError("bad-request", 400, "bad query parameter version");
    const removed = await deps.store.removeImage(name.data, v);
    if (removed === 0) throw notFound(v === undefined ? `no image ${name.data}` : `no image ${name.data} version ${v}`);
    await ctx.audit.record(principalOf(c), "image.remove", v === undefined ? name.data : `${name.data}@${v}`, { versions: removed });
    return c.json({ removed });
  });
}
