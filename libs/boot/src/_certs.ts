/**
 * X.509 certificates as the Secure Boot databases hold them; they live in @tessera/host-image (the component
 * model below both the simulator and the appraisal) and are re-exported here for the simulator's modules.
 * @module
 */
export { certificateMatches, parseCertificatePem, type ParsedCertificate } from "@tessera/host-image";
