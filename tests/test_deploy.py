"""The deployment files: Dockerfile lint, compose structure, and the image's dependency list."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert api["healthcheck"]["test"] == ["CMD", "python", "-m", "service.healthcheck"]
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
