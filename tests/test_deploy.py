"""deploy/ against the code it deploys: no Docker daemon or cluster is available, so these read
the Dockerfiles and manifests and check them against the real pix2pix-serve and pix2pix-client
parsers, the server's defaults, its Prometheus registry and the README's install table."""
from __future__ import annotations

import ast
import functools
import json
import re
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from pix2pix_stream.client.cli import build_parser as client_parser  # noqa: E402
from pix2pix_stream.server.cli import build_parser as serve_parser  # noqa: E402
from pix2pix_stream.server.config import ServerConfig  # noqa: E402
from pix2pix_stream.server.metrics import Metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ADAPTER_VALUES = K8S / "monitoring" / "prometheus-adapter-values.yaml"
# README install-table row -> the image built from it.
IMAGES = {"serving on a CPU host": DEPLOY / "docker" / "cpu.Dockerfile",
          "GPU serving": DEPLOY / "docker" / "gpu.Dockerfile"}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


# -- reading the files -----------------------------------------------------------------------

@functools.cache  # parsed once; the tests only read the objects
def manifests() -> list[tuple[Path, dict]]:
    """(file, object) for every Kubernetes object under deploy/k8s (the adapter's Helm values
    are not one)."""
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path != ADAPTER_VALUES:
            found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def deployments() -> list[tuple[str, dict]]:
    return [(f"{path.parent.name}/{path.name}", doc) for path, doc in manifests()
            if doc["kind"] == "Deployment"]


def serve_container(deployment: dict) -> dict:
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "serve"]
    return container


def serve_args(args: list[str]):
    parser = serve_parser()
    parser.allow_abbrev = False  # a flag must be spelled out, as pix2pix-serve --help prints it
    try:
        return parser.parse_args(args)
    except SystemExit:
        pytest.fail(f"pix2pix-serve rejects {args}")


def port_named(container: dict, name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return port


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", "\n".join(
        line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip()]


def last(dockerfile: Path, instruction: str) -> str:
    return [rest for name, rest in instructions(dockerfile) if name == instruction][-1]


def pip_install(words: list[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """(requirements, {(option, value)}) of a `pip install ...` command's words."""
    words = words[words.index("install") + 1:]
    requirements, options = set(), set()
    valued = {"--extra-index-url", "--index-url", "--find-links", "-f", "-i"}
    while words:
        word = words.pop(0)
        if word in valued:
            options.add((word, words.pop(0)))
        elif word.startswith("-"):
            options.add((word, ""))
        else:
            requirements.add(word)
    return requirements, options


def readme_install_line(who: str) -> str:
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == who:
            return re.search(r"`([^`]*pip install[^`]*)`", cells[1]).group(1)
    pytest.fail(f"README's install table has no row {who!r}")


def dockerfile_pip_install(dockerfile: Path) -> list[str]:
    (run,) = [rest for name, rest in instructions(dockerfile)
              if name == "RUN" and "pip install" in rest]
    return shlex.split(run.split("&&")[0])


# -- Kubernetes manifests ----------------------------------------------------------------------

def test_every_manifest_parses_into_named_kubernetes_objects():
    found = manifests()
    kinds = {doc["kind"] for _, doc in found}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "Kustomization", "PodMonitor"} <= kinds
    for path, doc in found:
        assert doc.get("apiVersion"), path
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], path
    assert yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]


def test_kustomizations_name_files_that_exist():
    for path in K8S.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(path.read_text())["resources"]:
            assert (path.parent / resource).exists(), f"{path}: {resource}"
    assert len(deployments()) == 2  # cpu and gpu, alternatives under one name
    assert {doc["metadata"]["name"] for _, doc in deployments()} == {"pix2pix"}


@pytest.mark.parametrize("where,deployment", deployments())
def test_container_args_are_real_pix2pix_serve_flags(where, deployment):
    args = serve_container(deployment)["args"]
    assert all(isinstance(a, str) for a in args), f"{where}: quote numbers, args are strings"
    parsed = serve_args(args)
    assert parsed.engines == Path("/engines")
    mounts = {m["mountPath"]: m for m in serve_container(deployment)["volumeMounts"]}
    assert mounts["/engines"]["readOnly"] is True  # engines are mounted, never baked in


@pytest.mark.parametrize("where,deployment", deployments())
def test_ports_match_the_server_defaults_and_the_service(where, deployment):
    container = serve_container(deployment)
    parsed = serve_args(container["args"])
    assert parsed.port == serve_parser().get_default("port") == port_named(container, "grpc")
    assert parsed.metrics_port == port_named(container, "metrics")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == parsed.metrics_port
    (service,) = of_kind("Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["port"] == parsed.port and ports["grpc"]["targetPort"] == "grpc"
    assert ports["metrics"]["port"] == parsed.metrics_port


@pytest.mark.parametrize("where,deployment", deployments())
def test_probes_use_grpc_health_on_the_serving_port(where, deployment):
    container = serve_container(deployment)
    serving = serve_args(container["args"]).port
    for probe in PROBES:
        assert set(container[probe]) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert container[probe]["grpc"]["port"] == serving, f"{where}: {probe}"
        assert container[probe]["grpc"].get("service", "") == ""  # the whole server


@pytest.mark.parametrize("where,deployment", deployments())
def test_termination_grace_outlasts_the_drain(where, deployment):
    drain = serve_args(serve_container(deployment)["args"]).grace_s
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain and grace > ServerConfig(engines_dir=Path(".")).grace_s


def test_service_is_headless_and_selectors_match_the_pods():
    (service,) = of_kind("Service")
    assert service["spec"]["clusterIP"] == "None"  # DNS returns every pod: client round robin
    (pdb,) = of_kind("PodDisruptionBudget")
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    for _, deployment in deployments():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"],
                         deployment["spec"]["selector"]["matchLabels"]):
            assert selector.items() <= labels.items()
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] >= 2  # the PDB's one-at-a-time leaves one serving


def exposed_series() -> set[str]:
    """Every sample name a busy server exports, from a real Metrics registry."""
    metrics = Metrics(max_batch=8)
    metrics.frames_in.labels("m").inc()
    metrics.batch_observer("m")(2, [0.001, 0.002], 0.01)
    metrics.active_streams.labels("Translate").inc()
    return {line.split("{")[0].split()[0] for line in metrics.text().splitlines()
            if line and not line.startswith("#")}


def adapter_metrics() -> dict[str, str]:
    """custom metric name -> the Prometheus series it is computed from, per the adapter rules."""
    names = {}
    for rule in yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]:
        series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rule["seriesQuery"]).group(0)
        pattern, as_ = rule["name"]["matches"], rule["name"].get("as") or "${1}"
        names[re.sub(pattern, re.sub(r"\$\{(\d+)\}", r"\\\1", as_), series)] = series
        assert {"<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"} <= set(
            re.findall(r"<<\.\w+>>", rule["metricsQuery"]))
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    return names


def test_hpa_scales_on_metrics_the_server_exports_through_the_adapter():
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    served, exported = adapter_metrics(), exposed_series()
    metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert metrics
    for name in metrics:
        assert name in served, f"no prometheus-adapter rule serves {name}"
        assert served[name] in exported, f"{served[name]} is not in server/metrics.py"


def test_active_stream_target_is_below_the_stream_limit():
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    (target,) = [m["pods"]["target"]["averageValue"] for m in hpa["spec"]["metrics"]
                 if m["pods"]["metric"]["name"] == "pix2pix_active_streams"]
    for _, deployment in deployments():
        assert int(target) < serve_args(serve_container(deployment)["args"]).max_streams


# -- images ------------------------------------------------------------------------------------

@pytest.mark.parametrize("who,dockerfile", IMAGES.items())
def test_image_installs_the_readme_line(who, dockerfile):
    readme_requirements, readme_options = pip_install(shlex.split(readme_install_line(who)))
    requirements, options = pip_install(dockerfile_pip_install(dockerfile))
    assert requirements == readme_requirements
    assert readme_options <= options
    assert options - readme_options <= {("--no-cache-dir", ""), ("--find-links", "/wheels")}


@pytest.mark.parametrize("dockerfile", IMAGES.values(), ids=lambda p: p.name)
def test_image_runs_pix2pix_serve_as_non_root_with_a_health_check(dockerfile):
    assert json.loads(last(dockerfile, "ENTRYPOINT")) == ["pix2pix-serve"]
    parsed = serve_args(json.loads(last(dockerfile, "CMD")))
    assert parsed.engines == Path("/engines")
    assert {int(p) for p in last(dockerfile, "EXPOSE").split()} == {parsed.port,
                                                                    parsed.metrics_port}
    user = last(dockerfile, "USER")
    assert user.isdigit() and int(user) != 0  # numeric, so runAsNonRoot can check it
    for _, deployment in deployments():
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)
    check = json.loads(last(dockerfile, "HEALTHCHECK").split("CMD", 1)[1])
    assert check[0] == "pix2pix-client"
    try:
        health = client_parser().parse_args(check[1:])
    except SystemExit:
        pytest.fail(f"pix2pix-client rejects {check[1:]}")
    assert health.command == "health"
    assert health.server == f"127.0.0.1:{parsed.port}"


def test_build_context_holds_every_package_folder():
    """The images build the wheel from the .dockerignore allow-list: a folder setup.py maps but
    the list leaves out would silently drop out of the images."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    (folders,) = [ast.literal_eval(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FOLDERS"]
    allowed = {line[1:].strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for folder in ("pix2pix_stream", *folders):
        subpackages = {a for a in allowed if a.startswith(folder + "/")}
        assert folder in allowed or subpackages, folder
        for sub in (ROOT / folder).glob("*/__init__.py") if subpackages else ():
            assert f"{folder}/{sub.parent.name}" in allowed, sub.parent
    assert {"pyproject.toml", "setup.py", "README.md"} <= allowed
