"""The discovery flags (smg's names) build the discovery configuration, or fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_gw.cli import main, parse_args
from sglang_gw.cli_config import config_from_args
from sglang_gw.discovery import DiscoveryConfig, KubernetesConfig


def test_kubernetes_flags_reach_the_configuration() -> None:
    config = config_from_args(parse_args([
        "launch", "--service-discovery", "--selector", "app=sglang", "tier=gpu", "--service-discovery-namespace",
        "llm", "--service-discovery-port", "30001", "--service-discovery-protocol", "http",
        "--discovery-check-interval-secs", "5", "--remove-unhealthy-workers"]))
    assert config.demo is None and config.worker_urls == ()  # the fleet comes from discovery
    assert config.discovery == DiscoveryConfig(
        kubernetes=KubernetesConfig(selector=(("app", "sglang"), ("tier", "gpu")), namespace="llm", port=30001,
                                    protocol="http"),
        check_interval_secs=5.0, remove_unhealthy_workers=True)


def test_pd_pools_from_selectors_start_without_prefill_or_decode_urls() -> None:
    config = config_from_args(parse_args([
        "launch", "--pd-disaggregation", "--discovery-provider", "kubernetes", "--prefill-selector", "role=prefill",
        "--decode-selector", "role=decode", "--bootstrap-port-annotation", "example.com/bootstrap"]))
    k8s = config.discovery.kubernetes
    assert k8s is not None and k8s.pools() == [("prefill", (("role", "prefill"),)), ("decode", (("role", "decode"),))]
    assert k8s.bootstrap_port_annotation == "example.com/bootstrap" and k8s.namespace is None
    assert config.pd is not None and config.pd.prefill == () and config.pd.decode == ()


def test_discovery_file_in_both_spellings(tmp_path: Path) -> None:
    path = tmp_path / "workers.yaml"
    path.write_text("- grpc://127.0.0.1:1\n")
    for argv in (["--discovery-file", str(path)], ["--discovery-provider", "file", "--discovery-file", str(path)]):
        config = config_from_args(parse_args(["launch", *argv]))
        assert config.discovery.file == path and config.discovery.kubernetes is None and config.demo is None


@pytest.mark.parametrize(("argv", "message"), [
    (["--selector", "app=x"], "need --service-discovery"),
    (["--service-discovery"], "needs --selector"),
    (["--service-discovery", "--selector", "app"], "key=value pairs"),
    (["--service-discovery", "--selector", "app=x", "--service-discovery-port", "0"], "port number"),
    (["--pd-disaggregation", "--service-discovery", "--prefill-selector", "r=p"], "go together"),
    (["--service-discovery", "--prefill-selector", "r=p", "--decode-selector", "r=d"], "--pd-disaggregation"),
    (["--discovery-provider", "file"], "needs --discovery-file"),
    (["--pd-disaggregation"], "or discovery"),
    (["--discovery-file", "/dev/null", "--discovery-check-interval-secs", "0"], "must be positive"),
])
def test_bad_discovery_flags_fail_at_start(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_or_malformed_discovery_file_fails_at_start(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--discovery-file", str(tmp_path / "nope.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('[{"worker_type": "decode"}]')
    assert main(["launch", "--discovery-file", str(tmp_path / "bad.json")]) == 2
    assert "worker 0: needs a `url`" in capsys.readouterr().err


def test_the_deploy_manifest_grants_pod_watching_and_passes_valid_flags() -> None:
    import yaml

    docs = {d["kind"]: d for d in yaml.safe_load_all((Path(__file__).parent.parent / "deploy" / "discovery.yaml")
                                                     .read_text())}
    assert docs["Role"]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert docs["RoleBinding"]["subjects"][0]["name"] == docs["ServiceAccount"]["metadata"]["name"]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert docs["Deployment"]["spec"]["replicas"] > 1
    args = [a.replace("$(POD_NAMESPACE)", "inference").replace("$(SGLANG_GW_API_KEY)", "k")
            for a in pod["containers"][0]["args"]]
    k8s = config_from_args(parse_args(["launch", *args])).discovery.kubernetes
    assert k8s is not None and k8s.namespace == "inference" and k8s.port == 20000
