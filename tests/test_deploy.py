"""The deployment files: Dockerfile lint, compose structure, and the image's dependency list."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnn_serve.service.http.drain import CLOSING_S
from tests.support.servers import make_client

ROOT = Path(__file__).resolve().parent.parent


class ComposeLoader(yaml.SafeLoader):
    """Compose's `!reset` tag clears a value inherited from the base file."""


ComposeLoader.add_constructor("!reset", lambda loader, node: "!reset")


def compose(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variant", "present", "absent"),
    [
        ("cpu", "onnxruntime>=", "onnxruntime-gpu"),
        ("gpu", "onnxruntime-gpu", "onnxruntime>="),
    ],
)
def test_image_requirements_hold_no_torch(variant, present, absent):
    script = ROOT / "scripts" / "runtime-requirements.py"
    result = subprocess.run(
        [sys.executable, str(script), variant], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    assert any(line.startswith(present) for line in lines)
    assert not any(line.startswith(absent) for line in lines)
    assert not any("torch" in line for line in lines)


def test_compose_api_is_hardened_and_checked():
    api = compose("docker-compose.yml")["services"]["api"]
    assert api["read_only"] is True and "/tmp" in api["tmpfs"]
    assert api["restart"] == "unless-stopped"
    assert api["healthcheck"]["test"] == ["CMD", "python", "-m", "rnn_serve.service.healthcheck"]
    assert any(port.endswith(":8000") for port in api["ports"])


def test_compose_profiles_for_gpu_and_load_testing():
    services = compose("docker-compose.yml")["services"]
    gpu = services["api-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["VARIANT"] == "gpu"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    loadtest = services["loadtest"]
    assert loadtest["profiles"] == ["loadtest"] and "--headless" in loadtest["command"]
    assert (ROOT / "bench" / "locustfile.py").is_file()


def test_ci_override_puts_every_service_on_the_host_network():
    services = compose("docker-compose.yml")["services"]
    overrides = compose("docker-compose.ci.yml")["services"]
    assert set(overrides) == set(services)
    assert all(o["network_mode"] == "host" for o in overrides.values())
    published = [name for name, service in services.items() if "ports" in service]
    assert all(overrides[name]["ports"] == "!reset" for name in published)


K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.32"  # the schemas the manifests are checked against (kubectl's here)


def rendered(overlay: str, tmp_path: Path) -> list[dict]:
    """``kubectl kustomize`` of an overlay, with a kubeconfig of its own: it never calls a
    cluster (no cluster runs here; nothing is deployed)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Kubernetes manifests were not rendered")
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        env={"KUBECONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict], kind: str) -> dict:
    (found,) = [
        doc for doc in docs if doc["kind"] == kind and "redis" not in doc["metadata"]["name"]
    ]
    return found


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_the_kubernetes_manifests_render_and_pass_strict_validation(overlay, tmp_path):
    import kubernetes_validate

    docs = rendered(overlay, tmp_path)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == sorted(
        [
            *("ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"),
            *("Service", "Service", "StatefulSet"),
        ]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # strict means strict: a misspelt field is refused
    typo = by_kind(docs, "Deployment") | {"spec": {**by_kind(docs, "Deployment")["spec"]}}
    typo["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_the_deployment_is_locked_down_probed_and_sized(overlay, tmp_path):
    docs = rendered(overlay, tmp_path)
    pod = by_kind(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"rnn-serve:{overlay}"
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    probes = {
        name: container[f"{name}Probe"]["httpGet"]["path"]
        for name in ("startup", "readiness", "liveness")
    }
    assert probes == {
        "startup": "/v2/health/ready",
        "readiness": "/v2/health/ready",
        "liveness": "/v2/health/live",
    }
    assert {"requests", "limits"} <= set(container["resources"])
    # the pod is given time for its drain, its closing second and uvicorn's graceful shutdown
    settings = by_kind(docs, "ConfigMap")["data"]
    drain = float(settings["RNN_SERVE_DRAIN_S"])
    graceful = int(settings["RNN_SERVE_GRACEFUL_TIMEOUT"])
    assert drain > 0 and pod["terminationGracePeriodSeconds"] > drain + CLOSING_S + graceful
    assert settings["RNN_SERVE_STATE_URL"].startswith("redis://rnn-serve-redis:")
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert keys["RNN_SERVE_API_KEYS"]["optional"] is True
    gpus = container["resources"]["limits"].get("nvidia.com/gpu")
    assert (gpus, settings["RNN_SERVE_PROVIDER"]) == (
        (1, "auto") if overlay == "gpu" else (None, "cpu")
    )


KSERVE = ROOT / "deploy" / "kserve"


def kserve(name: str) -> dict:
    return yaml.safe_load((KSERVE / f"{name}.yaml").read_text())


def test_the_kserve_resources_have_the_fields_kserve_requires():
    """KServe's documented contract for a custom runtime: a ServingRuntime (v1alpha1) whose
    predictor container is named kserve-container and serves HTTP on 8080 with the protocols
    it lists; an InferenceService (v1beta1) naming that runtime and one of its model formats,
    here as a RawDeployment scaled by an HPA on CPU or memory."""
    import kubernetes_validate

    runtime, service = kserve("servingruntime"), kserve("inferenceservice")
    assert (runtime["apiVersion"], runtime["kind"]) == (
        "serving.kserve.io/v1alpha1",
        "ServingRuntime",
    )
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert [port["containerPort"] for port in container["ports"]] == [8080]
    assert env["RNN_SERVE_PORT"] == "8080"  # the server listens where KServe sends
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    # the container is a valid Kubernetes container (strict: no misspelt field)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}}
    kubernetes_validate.validate(
        pod | {"spec": {"containers": [container]}}, K8S_VERSION, strict=True
    )

    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    annotations = service["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
    predictor = service["spec"]["predictor"]
    model = predictor["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in formats
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert predictor["scaleMetric"] in ("cpu", "memory")  # what the HPA class scales on
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]


def test_the_kserve_grpc_service_names_the_port_grpc_listens_on():
    """grpc-v2 through KServe: the predictor's one port is named h2c (HTTP/2 cleartext), and it
    is the port the service's gRPC server listens on by default."""
    import kubernetes_validate

    from rnn_serve.service.settings import Settings

    runtime, service = kserve("servingruntime"), kserve("inferenceservice-grpc")
    model = service["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "grpc-v2" in runtime["spec"]["protocolVersions"]
    assert model["runtime"] == runtime["metadata"]["name"]
    (port,) = model["ports"]
    assert (port["name"], port["containerPort"]) == (
        "h2c",
        Settings.model_fields["grpc_port"].default,
    )
    container = {"name": "kserve-container", "image": "rnn-serve:cpu", "ports": model["ports"]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}}
    kubernetes_validate.validate(
        pod | {"spec": {"containers": [container]}}, K8S_VERSION, strict=True
    )


def test_every_setting_the_manifests_set_is_a_setting_of_the_service(tmp_path):
    """A misspelt RNN_SERVE_* variable would be ignored silently by the service (Kubernetes,
    KServe, Ray Serve)."""
    from rnn_serve.service.settings import ENV_PREFIX, Settings

    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    configmap = by_kind(rendered("cpu", tmp_path), "ConfigMap")["data"]
    (container,) = kserve("servingruntime")["spec"]["containers"]
    (ray_app,) = yaml.safe_load((ROOT / "deploy/ray/serve.yaml").read_text())["applications"]
    named = set(configmap) | {item["name"] for item in container["env"]}
    named |= set(ray_app["runtime_env"]["env_vars"])
    assert named - known == set()


def test_the_grafana_dashboard_queries_what_the_server_exports():
    """Every metric a panel of deploy/grafana/rnn-serve.json queries, and every label it groups
    by, is in the server's /metrics once it has served a prediction and a forecasting
    sequence's steps (the live scores appear only then)."""
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "rnn-serve.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    with make_client() as client:
        client.post("/v1/models/seed-demo/predict", json={"inputs": [[[1, 2, 3]]]})
        series = [315 + 0.03 * i for i in range(108)]
        for index, values in enumerate([series[:105], *([v] for v in series[105:])]):
            step = {"id": "grafana", "start": index == 0}
            body = {"series": values, "horizon": 2, "sequence": step}
            assert client.post("/v1/models/co2/forecast", json=body).status_code == 200
        exported = _exported(client.get("/metrics").text)
    assert len(queries) >= 15
    for query in queries:
        for metric in re.findall(r"rnn_serve_[a-z_]+", query):
            assert metric in exported, f"{metric} (in {query!r}) is not exported"
            for grouped in re.findall(r"by \(([^)]*)\)", query):
                for label in (name.strip() for name in grouped.split(",")):
                    assert label == "le" or label in exported[metric], (query, label)


def _exported(text: str) -> dict[str, set[str]]:
    """Each sample name of a Prometheus exposition, with the labels it carries."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, labels = line.partition("{")
            name = name.split(" ")[0]
            keys = {pair.split("=")[0] for pair in labels.rpartition("}")[0].split(",") if pair}
            found.setdefault(name, set()).update(keys)
    return found
