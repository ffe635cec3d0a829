"""Write the stack config the container serves: a stack file with the container's bind address and TLS.

    python deploy/orchestrator/container_config.py STACK.yaml OUT.yaml --host 0.0.0.0 --port 8443 \
        --tls-cert CERT --tls-key KEY
    python deploy/orchestrator/container_config.py STACK.yaml OUT.yaml --behind-proxy --port 8444 --node a

Behind the proxy (docker-compose.yml's scale profile) an orchestrator serves plain HTTP on loopback,
where only the proxy reaches it, names itself ``node`` and trusts the proxy's X-Forwarded-For.

The stack file (configs/cpu.yaml, a Triton stack, or your own) stays the single place where models and
engines are chosen; only `server:` is replaced, and the persona and registry paths, which are relative
to the stack file, are made absolute so that the written file can live anywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def container_stack(stack: dict, base: Path, host: str, port: int, cert: Path | None, key: Path | None,
                    node: str | None = None) -> dict:
    out = dict(stack)
    for key_name in ("persona", "models"):
        if key_name in out:
            out[key_name] = str((base / out[key_name]).resolve())
    server = dict(out.get("server") or {})
    if cert is not None and key is not None:
        server.update(host=host, port=port, tls_cert=str(cert), tls_key=str(key))
    else:  # behind the proxy: loopback, plain HTTP, the proxy's forwarded addresses trusted
        server.update(host="127.0.0.1", port=port, node=node, trusted_proxies=["127.0.0.1"])
        server.pop("tls_cert", None)
        server.pop("tls_key", None)
    out["server"] = server
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--behind-proxy", action="store_true", help="plain HTTP on loopback behind deploy/proxy")
    parser.add_argument("--node", help="this orchestrator's name behind the proxy (a, b)")
    args = parser.parse_args()
    if not args.behind_proxy and not (args.tls_cert and args.tls_key):
        parser.error("--tls-cert and --tls-key are needed unless --behind-proxy")
    stack = yaml.safe_load(args.stack.read_text(encoding="utf-8"))
    if not isinstance(stack, dict):
        raise SystemExit(f"{args.stack}: expected a mapping of keys at the top level")
    cert, key = (None, None) if args.behind_proxy else (args.tls_cert, args.tls_key)
    written = container_stack(stack, args.stack.resolve().parent, args.host, args.port, cert, key, args.node)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(written, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
