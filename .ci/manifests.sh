#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes): every resource the kustomization lists is
# validated, strictly, against Kubernetes' own schemas (PyPI's kubernetes-validate, which ships
# them); CloudNativePG's Cluster, whose schema is not shipped, is checked for what the portal
# and docs/deployment.md rely on.
source "$(dirname "$0")/common.sh"
VENV="$HOME/.cache/leasegate/venv"
[ -x "$VENV/bin/kubernetes-validate" ] || die "kubernetes-validate is missing: run .ci/setup.sh"
cd "$REPO/deploy/kubernetes"
"$VENV/bin/python" - <<'PY'
import subprocess, sys, yaml, pathlib

listed = yaml.safe_load(open("kustomization.yaml"))["resources"]
present = {p.name for p in pathlib.Path(".").glob("*.yaml")} - {"kustomization.yaml"}
problems = [f"{name}: listed in kustomization.yaml but missing" for name in listed if name not in present]
problems += [f"{name}: not listed in kustomization.yaml" for name in sorted(present - set(listed))]
core = []
for name in listed:
    for doc in yaml.safe_load_all(open(name)):
        if doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            spec = doc["spec"]
            if spec.get("instances", 0) < 3:
                problems.append(f"{name}: a highly available cluster needs 3 instances")
            if spec["bootstrap"]["initdb"]["owner"] != "leasegate_owner":
                problems.append(f"{name}: the schema owner must be leasegate_owner")
            roles = [r["name"] for r in spec.get("managed", {}).get("roles", [])]
            if "leasegate_portal" not in roles:
                problems.append(f"{name}: the portal's role leasegate_portal is not managed")
        elif name not in core:
            core.append(name)
result = subprocess.run(
    [sys.prefix + "/bin/kubernetes-validate", "-k", "1.33.0", "--strict", "--quiet", *core])
if result.returncode != 0:
    problems.append("the resources above do not validate against Kubernetes 1.33")
for p in problems:
    print(p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"{len(core)} files validate against Kubernetes 1.33; the CloudNativePG cluster checks")
PY
