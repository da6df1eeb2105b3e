/**
 * The Python program behind {@link runPykmipClient}: a PyKMIP `ProxyKmipClient` driven by JSON.
 *
 * Protocol: stdin carries one JSON document `{ connection, ops }` (see `client.ts`); the program
 * runs every op in order over one TLS connection (reconnecting after transport-level failures),
 * never letting one failing op abort the rest, and writes a single line
 * `@@TESSERA_PYKMIP_RESULT@@<json array of results>` to stdout. Diagnostics go to stderr.
 *
 * Kept in a TypeScript string so the helper has no files to locate at run time; it is executed
 * with `/usr/bin/python3 -c`. It must not contain backticks or dollar-brace sequences.
 *
 * @module
 */

/** Marker prefixing the JSON result line the client program prints on stdout. */
export const PYKMIP_CLIENT_RESULT_MARKER = "@@TESSERA_PYKMIP_RESULT@@";

/** Source of the JSON-driven PyKMIP client program (Python 3, PyKMIP 0.10). */
export const PYKMIP_CLIENT_SCRIPT: string = String.raw`import binascii
import enum
import json
import sys
import traceback

from kmip.core import enums
from kmip.core import primitives
from kmip.core import objects as cobjects
from kmip.core.factories import attributes as attribute_factories
from kmip.core.messages import contents
from kmip.core.messages import messages
from kmip.core.messages import payloads
from kmip.pie import client as pie_client
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects as pie_objects

RESULT_MARKER = "@@TESSERA_PYKMIP_RESULT@@"
ATTRS = attribute_factories.AttributeFactory()


class OpError(Exception):
    """A problem with the operation description itself (not a KMIP failure)."""


def enum_value(cls, name, what):
    if name is None:
        return None
    if isinstance(name, int):
        return cls(name)
    key = str(name).strip().replace("-", "_").replace(" ", "_")
    for member in cls:
        if member.name == key:
            return member
    for member in cls:
        if member.name.upper() == key.upper():
            return member
    raise OpError(
        "unknown {0} {1!r} (known: {2})".format(
            what, name, ", ".join(m.name for m in cls)))


def enum_list(cls, names, what):
    if names is None:
        return None
    return [enum_value(cls, n, what) for n in names]


def unhex(value, what):
    if value is None:
        return None
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, TypeError) as e:
        raise OpError("{0} must be a hex string: {1}".format(what, e))


def hexs(value):
    if value is None:
        return None
    return binascii.hexlify(bytes(value)).decode("ascii")


def to_json(v):
    if v is None:
        return None
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return hexs(v)
    if isinstance(v, (list, tuple, set)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return dict((str(k), to_json(x)) for k, x in v.items())
    if hasattr(v, "name_value") and hasattr(v, "name_type"):
        return {"value": to_json(v.name_value), "type": to_json(v.name_type)}
    if isinstance(v, contents.ProtocolVersion):
        return "{0}.{1}".format(v.major, v.minor)
    if isinstance(v, primitives.Struct):
        if hasattr(v, "to_dict"):
            try:
                return to_json(v.to_dict())
            except Exception:
                pass
        return str(v)
    if hasattr(v, "value"):
        return to_json(v.value)
    return str(v)


class Runner(object):
    def __init__(self, conn):
        self.conn = conn
        self.client = None
        self.results = []
        self.labels = {}

    # -- connection -------------------------------------------------------
    def ensure_open(self):
        if self.client is not None:
            return self.client
        c = self.conn
        version = c.get("kmipVersion")
        kmip_version = None
        if version:
            kmip_version = enum_value(
                enums.KMIPVersion, "KMIP_" + str(version).replace(".", "_"),
                "KMIP version")
        client = pie_client.ProxyKmipClient(
            hostname=c["host"],
            port=int(c["port"]),
            cert=c["cert"],
            key=c["key"],
            ca=c["ca"],
            ssl_version=c.get("sslVersion") or "PROTOCOL_TLS",
            username=c.get("username"),
            password=c.get("password"),
            config_file="/dev/null",
            kmip_version=kmip_version,
        )
        client.proxy.timeout = float(c.get("timeoutSeconds") or 20)
        client.open()
        self.client = client
        return client

    def drop_connection(self):
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        self.client = None

    # -- helpers ----------------------------------------------------------
    def uid(self, op, key="uid", required=False):
        return self.ref(op, key, required)

    def hex_field(self, op, key):
        return unhex(self.ref(op, key), key)

    def ref(self, op, key, required=False):
        value = op.get(key)
        if value is None:
            if required:
                raise OpError("'{0}' is required".format(key))
            return None
        if not isinstance(value, str):
            raise OpError("'{0}' must be a string".format(key))
        if not value.startswith("$"):
            return value
        ref = value[1:]
        field = None
        if "." in ref:
            ref, field = ref.split(".", 1)
        if ref.isdigit():
            index = int(ref)
            if index >= len(self.results):
                raise OpError("{0}: no earlier op #{1}".format(value, index))
            result = self.results[index]
        elif ref in self.labels:
            result = self.results[self.labels[ref]]
        else:
            raise OpError("{0}: no earlier op labelled {1!r}".format(
                value, ref))
        if not result.get("ok"):
            raise OpError("{0}: referenced op failed".format(value))
        target = result.get("value")
        if field is not None:
            if not isinstance(target, dict) or field not in target:
                raise OpError("{0}: result has no field {1!r}".format(
                    value, field))
            target = target[field]
        if not isinstance(target, str):
            raise OpError("{0}: referenced value is not a string".format(
                value))
        return target

    def crypto_params(self, op):
        params = {}
        mapping = [
            ("algorithm", "cryptographic_algorithm",
             enums.CryptographicAlgorithm, "algorithm"),
            ("mode", "block_cipher_mode", enums.BlockCipherMode, "mode"),
            ("padding", "padding_method", enums.PaddingMethod, "padding"),
            ("hashing", "hashing_algorithm", enums.HashingAlgorithm,
             "hashing algorithm"),
            ("signatureAlgorithm", "digital_signature_algorithm",
             enums.DigitalSignatureAlgorithm, "digital signature algorithm"),
        ]
        for src, dst, cls, what in mapping:
            if op.get(src) is not None:
                params[dst] = enum_value(cls, op[src], what)
        for src, dst in [("randomIv", "random_iv"), ("ivLength", "iv_length"),
                         ("tagLength", "tag_length")]:
            if op.get(src) is not None:
                params[dst] = op[src]
        return params or None

    def raw(self, operation, payload):
        proxy = self.client.proxy
        item = messages.RequestBatchItem(
            operation=contents.Operation(operation),
            request_payload=payload)
        request = proxy._build_request_message(None, [item])
        response = proxy._send_and_receive_message(request)
        item = response.batch_items[0]
        status = item.result_status.value
        if status != enums.ResultStatus.SUCCESS:
            reason = item.result_reason.value if item.result_reason else None
            message = item.result_message.value \
                if item.result_message else None
            raise pie_exceptions.KmipOperationFailure(status, reason, message)
        return item.response_payload

    # -- operations -------------------------------------------------------
    def op_create(self, c, op):
        return c.create(
            enum_value(enums.CryptographicAlgorithm,
                       op.get("algorithm", "AES"), "algorithm"),
            int(op.get("length", 256)),
            operation_policy_name=op.get("operationPolicyName"),
            name=op.get("name"),
            cryptographic_usage_mask=enum_list(
                enums.CryptographicUsageMask, op.get("usageMask"),
                "usage mask"),
        )

    def op_create_key_pair(self, c, op):
        public_uid, private_uid = c.create_key_pair(
            enum_value(enums.CryptographicAlgorithm,
                       op.get("algorithm", "RSA"), "algorithm"),
            int(op.get("length", 2048)),
            operation_policy_name=op.get("operationPolicyName"),
            public_name=op.get("publicName"),
            public_usage_mask=enum_list(
                enums.CryptographicUsageMask, op.get("publicUsageMask"),
                "usage mask"),
            private_name=op.get("privateName"),
            private_usage_mask=enum_list(
                enums.CryptographicUsageMask, op.get("privateUsageMask"),
                "usage mask"),
        )
        return {"publicUid": public_uid, "privateUid": private_uid}

    def op_register(self, c, op):
        kind = str(op.get("object", "SymmetricKey"))
        masks = enum_list(enums.CryptographicUsageMask, op.get("usageMask"),
                          "usage mask")
        if kind == "SymmetricKey":
            value = self.hex_field(op, "keyHex")
            if value is None:
                raise OpError("'keyHex' is required")
            obj = pie_objects.SymmetricKey(
                enum_value(enums.CryptographicAlgorithm,
                           op.get("algorithm", "AES"), "algorithm"),
                int(op.get("length", len(value) * 8)), value, masks=masks)
        elif kind == "SecretData":
            value = self.hex_field(op, "dataHex")
            if value is None:
                raise OpError("'dataHex' is required")
            obj = pie_objects.SecretData(
                value, enum_value(enums.SecretDataType,
                                  op.get("dataType", "PASSWORD"),
                                  "secret data type"), masks=masks)
        elif kind == "OpaqueObject":
            value = self.hex_field(op, "dataHex")
            if value is None:
                raise OpError("'dataHex' is required")
            obj = pie_objects.OpaqueObject(
                value, enum_value(enums.OpaqueDataType,
                                  op.get("opaqueType", "NONE"),
                                  "opaque data type"))
        elif kind in ("PublicKey", "PrivateKey"):
            value = self.hex_field(op, "keyHex")
            if value is None:
                raise OpError("'keyHex' is required")
            cls = pie_objects.PublicKey if kind == "PublicKey" \
                else pie_objects.PrivateKey
            default_format = "X_509" if kind == "PublicKey" else "PKCS_8"
            obj = cls(
                enum_value(enums.CryptographicAlgorithm,
                           op.get("algorithm", "RSA"), "algorithm"),
                int(op.get("length", 2048)), value,
                enum_value(enums.KeyFormatType,
                           op.get("keyFormat", default_format),
                           "key format type"),
                masks=masks)
        else:
            raise OpError("unsupported register object {0!r}".format(kind))
        obj.names = [op["name"]] if op.get("name") else []
        if op.get("operationPolicyName"):
            obj.operation_policy_name = op["operationPolicyName"]
        return c.register(obj)

    def op_get(self, c, op):
        spec = None
        w = op.get("wrapping")
        if w:
            spec = {
                "wrapping_method": enums.WrappingMethod.ENCRYPT,
                "encryption_key_information": {
                    "unique_identifier": self.ref(w, "uid", True),
                    "cryptographic_parameters": {
                        "block_cipher_mode": enum_value(
                            enums.BlockCipherMode,
                            w.get("mode", "NIST_KEY_WRAP"), "mode"),
                    },
                },
                "encoding_option": enum_value(
                    enums.EncodingOption, w.get("encoding", "NO_ENCODING"),
                    "encoding option"),
            }
        obj = c.get(self.uid(op), key_wrapping_specification=spec)
        out = {
            "objectType": to_json(getattr(obj, "object_type", None)),
            "valueHex": hexs(getattr(obj, "value", None)),
        }
        for src, dst in [
                ("cryptographic_algorithm", "algorithm"),
                ("cryptographic_length", "length"),
                ("key_format_type", "keyFormatType"),
                ("data_type", "dataType"),
                ("opaque_type", "opaqueType")]:
            if getattr(obj, src, None) is not None:
                out[dst] = to_json(getattr(obj, src))
        return out

    def op_get_attributes(self, c, op):
        _uid, attributes = c.get_attributes(self.uid(op), op.get("names"))
        collected = {}
        for a in attributes or []:
            collected.setdefault(to_json(a.attribute_name), []).append(
                to_json(a.attribute_value))
        return dict((k, v[0] if len(v) == 1 else v)
                    for k, v in collected.items())

    def op_get_attribute_list(self, c, op):
        return [to_json(n) for n in c.get_attribute_list(self.uid(op))]

    def op_locate(self, c, op):
        attributes = []
        if op.get("name") is not None:
            attributes.append(ATTRS.create_attribute(
                enums.AttributeType.NAME, op["name"]))
        if op.get("objectType") is not None:
            attributes.append(ATTRS.create_attribute(
                enums.AttributeType.OBJECT_TYPE,
                enum_value(enums.ObjectType, op["objectType"],
                           "object type")))
        if op.get("algorithm") is not None:
            attributes.append(ATTRS.create_attribute(
                enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                enum_value(enums.CryptographicAlgorithm, op["algorithm"],
                           "algorithm")))
        if op.get("length") is not None:
            attributes.append(ATTRS.create_attribute(
                enums.AttributeType.CRYPTOGRAPHIC_LENGTH, int(op["length"])))
        if op.get("state") is not None:
            attributes.append(ATTRS.create_attribute(
                enums.AttributeType.STATE,
                enum_value(enums.State, op["state"], "state")))
        uids = c.locate(
            maximum_items=op.get("maximumItems"),
            offset_items=op.get("offsetItems"),
            attributes=attributes or None)
        return [to_json(u) for u in uids]

    def op_activate(self, c, op):
        c.activate(self.uid(op))
        return None

    def op_revoke(self, c, op):
        c.revoke(
            enum_value(enums.RevocationReasonCode,
                       op.get("reason", "CESSATION_OF_OPERATION"),
                       "revocation reason"),
            self.uid(op),
            revocation_message=op.get("message"),
            compromise_occurrence_date=op.get("compromiseDate"))
        return None

    def op_destroy(self, c, op):
        c.destroy(self.uid(op))
        return None

    def op_encrypt(self, c, op):
        data = self.hex_field(op, "dataHex") or b""
        iv = self.hex_field(op, "ivHex")
        aad = self.hex_field(op, "aadHex")
        params = self.crypto_params(op)
        mode = (params or {}).get("block_cipher_mode")
        if mode == enums.BlockCipherMode.GCM or aad is not None:
            payload = self.raw(enums.Operation.ENCRYPT,
                               payloads.EncryptRequestPayload(
                                   unique_identifier=self.uid(op),
                                   cryptographic_parameters=c.
                                   _build_cryptographic_parameters(params),
                                   data=data, iv_counter_nonce=iv,
                                   auth_additional_data=aad))
            return {"dataHex": hexs(payload.data),
                    "ivHex": hexs(payload.iv_counter_nonce),
                    "tagHex": hexs(payload.auth_tag)}
        out, generated_iv = c.encrypt(data, uid=self.uid(op),
                                      cryptographic_parameters=params,
                                      iv_counter_nonce=iv)
        return {"dataHex": hexs(out), "ivHex": hexs(generated_iv)}

    def op_decrypt(self, c, op):
        data = self.hex_field(op, "dataHex") or b""
        iv = self.hex_field(op, "ivHex")
        aad = self.hex_field(op, "aadHex")
        tag = self.hex_field(op, "tagHex")
        params = self.crypto_params(op)
        mode = (params or {}).get("block_cipher_mode")
        if mode == enums.BlockCipherMode.GCM or aad is not None \
                or tag is not None:
            payload = self.raw(enums.Operation.DECRYPT,
                               payloads.DecryptRequestPayload(
                                   unique_identifier=self.uid(op),
                                   cryptographic_parameters=c.
                                   _build_cryptographic_parameters(params),
                                   data=data, iv_counter_nonce=iv,
                                   auth_additional_data=aad, auth_tag=tag))
            return {"dataHex": hexs(payload.data)}
        out = c.decrypt(data, uid=self.uid(op),
                        cryptographic_parameters=params, iv_counter_nonce=iv)
        return {"dataHex": hexs(out)}

    def op_mac(self, c, op):
        uid, mac = c.mac(
            self.hex_field(op, "dataHex") or b"", uid=self.uid(op),
            algorithm=enum_value(enums.CryptographicAlgorithm,
                                 op.get("algorithm", "HMAC_SHA256"),
                                 "algorithm"))
        return {"uid": to_json(uid), "macHex": hexs(mac)}

    def op_sign(self, c, op):
        signature = c.sign(self.hex_field(op, "dataHex") or b"",
                           uid=self.uid(op),
                           cryptographic_parameters=self.sign_params(op))
        return {"signatureHex": hexs(signature)}

    def op_signature_verify(self, c, op):
        indicator = c.signature_verify(
            self.hex_field(op, "dataHex") or b"",
            self.hex_field(op, "signatureHex") or b"",
            uid=self.uid(op),
            cryptographic_parameters=self.sign_params(op))
        return {"valid": indicator == enums.ValidityIndicator.VALID,
                "indicator": to_json(indicator)}

    def sign_params(self, op):
        merged = dict(op)
        merged.setdefault("algorithm", "RSA")
        merged.setdefault("hashing", "SHA_256")
        merged.setdefault("padding", "PSS")
        return self.crypto_params(merged)

    def op_discover_versions(self, c, op):
        versions = None
        if op.get("versions"):
            versions = []
            for v in op["versions"]:
                major, minor = str(v).split(".")
                versions.append(contents.ProtocolVersion(int(major),
                                                         int(minor)))
        result = c.proxy.discover_versions(protocol_versions=versions)
        status = result.result_status.value
        if status != enums.ResultStatus.SUCCESS:
            raise pie_exceptions.KmipOperationFailure(
                status, result.result_reason.value,
                result.result_message.value)
        return [to_json(v) for v in result.protocol_versions or []]

    def op_query(self, c, op):
        functions = enum_list(enums.QueryFunction, op.get("functions") or [
            "QUERY_OPERATIONS", "QUERY_OBJECTS",
            "QUERY_SERVER_INFORMATION"], "query function")
        result = c.proxy.query(query_functions=functions)
        status = result.result_status.value
        if status != enums.ResultStatus.SUCCESS:
            raise pie_exceptions.KmipOperationFailure(
                status, result.result_reason.value,
                result.result_message.value)
        return {
            "operations": to_json(result.operations or []),
            "objectTypes": to_json(result.object_types or []),
            "vendorIdentification": to_json(result.vendor_identification),
            "serverInformation": to_json(result.server_information),
        }

    # -- driver -----------------------------------------------------------
    def run(self, ops):
        for index, op in enumerate(ops):
            name = op.get("op") if isinstance(op, dict) else None
            handler = getattr(self, "op_" + str(name), None)
            try:
                if handler is None:
                    raise OpError("unknown op {0!r}".format(name))
                client = self.ensure_open()
                value = handler(client, op)
                result = {"ok": True, "value": to_json(value)}
            except pie_exceptions.KmipOperationFailure as e:
                result = {"ok": False, "error": {
                    "type": type(e).__name__,
                    "message": str(e),
                    "status": to_json(e.status),
                    "reason": to_json(e.reason),
                    "resultMessage": to_json(e.message),
                }}
            except OpError as e:
                result = {"ok": False, "error": {
                    "type": "OpError", "message": str(e)}}
            except (TypeError, KeyError) as e:
                # Argument validation in the PyKMIP client: nothing was sent.
                result = {"ok": False, "error": {
                    "type": type(e).__name__, "message": str(e)}}
            except Exception as e:
                sys.stderr.write("op #{0} ({1}) raised:\n".format(index, name))
                traceback.print_exc()
                result = {"ok": False, "error": {
                    "type": type(e).__name__,
                    "message": str(e) or repr(e)}}
                # The connection state is unknown after a transport-level
                # failure: reconnect for the next op.
                self.drop_connection()
            if isinstance(op, dict) and op.get("as"):
                self.labels[str(op["as"])] = index
            self.results.append(result)
        self.drop_connection()
        return self.results


def main():
    request = json.load(sys.stdin)
    runner = Runner(request["connection"])
    results = runner.run(request["ops"])
    sys.stdout.write(RESULT_MARKER + json.dumps(results) + "\n")
    sys.stdout.flush()


main()
`;
