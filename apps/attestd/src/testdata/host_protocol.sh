#!/usr/bin/env bash
# A host's whole side of PROTOCOL.md with nothing but tpm2-tools, curl, jq, base64 and xxd (run by
# protocol_tools_test.ts against a booted swtpm). Inputs (environment): TPM2TOOLS_TCTI, URL (attestd), CA (its
# TLS CA file), HOST, EK_ALG (rsa|ecc), EK_NV (the EK certificate's NV index), AK_ALG, AK_SCHEME, EVENT_LOG
# (binary_bios_measurements), BINDING_KEY (1, the default: certify a binding key with tpm2_certify; 0: none).
# Prints attestd's answer to the attestation; leaves the binding key's public key in bk.pem (tpm2_readpublic).
set -euo pipefail
api() { # METHOD PATH OUT-FILE [JSON-FILE]: the answer goes to OUT-FILE; a refusal is printed and ends the script
  local body=()
  [ $# -eq 4 ] && body=(-H 'Content-Type: application/json' --data-binary @"$4")
  curl -sS --fail-with-body --cacert "$CA" -X "$1" "${body[@]}" -o "$3" "$URL$2" || { echo "$1 $2 refused:" >&2; cat "$3" >&2; exit 1; }
}
# Without a resource manager every object a tool loads stays loaded (swtpm holds three): flush after each step.
flush() { tpm2_flushcontext -t >/dev/null; tpm2_flushcontext -s >/dev/null; }
flush
trap flush EXIT

# 1. Enrollment: the EK (certificate from NV, public area), a new AK.
tpm2_createek -G "$EK_ALG" -c ek.ctx -u ek.pub >/dev/null
tpm2_nvread -C o "$EK_NV" -o ek.crt >/dev/null
tpm2_createak -C ek.ctx -c ak.ctx -G "$AK_ALG" -g sha256 -s "$AK_SCHEME" -u ak.pub -r ak.priv -n ak.name >/dev/null
flush
jq -n --arg c "$(base64 -w0 ek.crt)" --arg e "$(base64 -w0 ek.pub)" --arg a "$(base64 -w0 ak.pub)" \
  '{ekCertificate: $c, ekPublic: $e, akPublic: $a}' > enroll.json
api POST "/api/v1/hosts/$HOST/enrollments" enrollment.json enroll.json
jq -r .credential enrollment.json | base64 -d > credential.bin
tpm2_startauthsession --policy-session -S session.ctx
tpm2_policysecret -S session.ctx -c e >/dev/null
tpm2_activatecredential -c ak.ctx -C ek.ctx -i credential.bin -o secret.bin -P session:session.ctx >/dev/null
tpm2_flushcontext session.ctx
flush
jq -n --arg s "$(base64 -w0 secret.bin)" '{secret: $s}' > activate.json
api POST "/api/v1/hosts/$HOST/enrollments/$(jq -r .enrollment enrollment.json)/activation" activation.json activate.json

# 2. Challenge.
api POST "/api/v1/hosts/$HOST/challenges" challenge.json
NONCE=$(jq -r .nonce challenge.json)
# tpm2-tools 5.4 takes PCR lists, not ranges: sha256:0-7,14 becomes sha256:0,1,2,3,4,5,6,7,14 (one bank).
expand() { # a comma list of indexes and ranges → sorted indexes, one a line
  local p i
  IFS=',' read -ra parts <<< "$1"
  for p in "${parts[@]}"; do
    if [[ $p == *-* ]]; then for ((i = ${p%-*}; i <= ${p#*-}; i++)); do echo "$i"; done; else echo "$p"; fi
  done | sort -n -u
}
RAW_SEL=$(jq -r .pcrSelection challenge.json)
BANK=${RAW_SEL%%:*}
INDEXES=$(expand "${RAW_SEL#*:}")
SEL="$BANK:$(paste -sd, <<< "$INDEXES")"

# 3. Quote over the challenged PCRs with the nonce; the PCR values; the event log.
tpm2_quote -c ak.ctx -l "$SEL" -q "$NONCE" -g sha256 -m quote.msg -s quote.sig >/dev/null
flush
tpm2_pcrread "$SEL" -o pcrs.bin >/dev/null
# tpm2_pcrread -o writes the values in ascending PCR order, as INDEXES is sorted.
paste -d' ' <(echo "$INDEXES") <(xxd -p -c 32 pcrs.bin) |
  jq -R -s --arg b "$BANK" '{($b): (split("\n") | map(select(length > 0) | split(" ") | {(.[0]): .[1]}) | add)}' > pcrs.json

# The binding key (BINDING_KEY=1): an RSA-2048 decryption key in the TPM, certified by the AK.
if [ "${BINDING_KEY:-1}" = 1 ]; then
  tpm2_createprimary -C o -c srk.ctx >/dev/null
  flush
  tpm2_create -C srk.ctx -G rsa2048:null:null -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt" -u bk.pub -r bk.priv >/dev/null
  flush
  tpm2_load -C srk.ctx -u bk.pub -r bk.priv -c bk.ctx >/dev/null
  flush
  tpm2_readpublic -c bk.ctx -f pem -o bk.pem >/dev/null
  flush
  # tpm2_certify 5.4 always qualifies the certification with the fixed bytes 00 ff 55 aa (no option changes them).
  tpm2_certify -c bk.ctx -C ak.ctx -g sha256 -o certify.info -s certify.sig >/dev/null
  flush
  jq -n --arg bp "$(base64 -w0 bk.pub)" --arg bc "$(base64 -w0 certify.info)" --arg bs "$(base64 -w0 certify.sig)" \
    '{bindingKey: {public: $bp, certifyInfo: $bc, signature: $bs}}' > binding.json
else
  echo '{}' > binding.json
fi

base64 -w0 "$EVENT_LOG" > log.b64
jq -n --arg n "$NONCE" --arg q "$(base64 -w0 quote.msg)" --arg s "$(base64 -w0 quote.sig)" --slurpfile p pcrs.json \
  --rawfile l log.b64 --slurpfile b binding.json \
  '{nonce: $n, quote: $q, signature: $s, pcrs: $p[0], eventLog: $l} + $b[0]' > attest.json
api POST "/api/v1/hosts/$HOST/attestations" attestation.json attest.json
cat attestation.json
