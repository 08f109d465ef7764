"""Imports point one way: cds_service -> hooks -> fhir_mappings, and down the cds_service layers."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# cds_service groups, lowest first: a module imports only from its own group or one listed before it.
LAYERS = ["base", "ops", "store", "auth", "fhir", "protocol", "preview", "app", "cli"]
BASE = {"config", "errors", "heap", "logs"}  # settings, error types, GC set-up and logging, shared by every group
APP = {"", "factory", "wsgi"}  # create_app and load_settings (factory, named by the package), the WSGI entry
# Top-level packages: each may import only the ones listed for it.
PACKAGES = {"fhir_mappings": set(), "hooks": {"fhir_mappings"}, "cds_service": {"hooks", "fhir_mappings", "fixtures"}}


def module_sources() -> dict[str, str]:
    """Every module of the three packages, by dotted name (a package by its own name)."""
    sources = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            sources[name] = path.read_text()
    return sources


def imported(name: str, source: str, modules: set[str]) -> set[str]:
    """The modules ``name`` imports, anywhere in its body (``from pkg import module`` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                is_package = any(module.startswith(name + ".") for module in modules)
                anchor = (name if is_package else name.rpartition(".")[0]).split(".")
                base = ".".join(anchor[:len(anchor) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def group(module: str) -> str:
    """The layer of a cds_service module."""
    first = module.split(".")[1] if "." in module else ""
    if first in BASE:
        return "base"
    return "app" if first in APP else first


def violations(sources: dict[str, str]) -> list[str]:
    modules = set(sources)
    found = []
    for name, source in sources.items():
        package = name.split(".")[0]
        for target in imported(name, source, modules):
            target_package = target.split(".")[0]
            if target_package in PACKAGES and target_package != package and target_package not in PACKAGES[package]:
                found.append(f"{name} imports {target}")
            elif package == target_package == "cds_service" and LAYERS.index(group(target)) > LAYERS.index(group(name)):
                found.append(f"{name} ({group(name)}) imports {target} ({group(target)})")
    return sorted(found)


def test_every_cds_service_module_belongs_to_a_layer():
    assert {group(name) for name in module_sources() if name.startswith("cds_service")} <= set(LAYERS)


def test_imports_point_one_way():
    assert violations(module_sources()) == []


def test_the_check_sees_upward_and_cross_package_imports():
    sources = {
        "cds_service.store.sql": "from cds_service.protocol import routes\n",
        "cds_service.protocol.routes": "def f():\n    from cds_service.preview.page import install\n",
        "cds_service.preview.page": "",
        "hooks.engine": "import cds_service\n",
        "cds_service": "",
        "fhir_mappings.orders": "from hooks import Policy\n",
        "fhir_mappings.patient": "from .orders import x\n",
        "hooks": "",
    }
    assert violations(sources) == [
        "cds_service.protocol.routes (protocol) imports cds_service.preview.page (preview)",
        "cds_service.store.sql (store) imports cds_service.protocol.routes (protocol)",
        "fhir_mappings.orders imports hooks",
        "hooks.engine imports cds_service",
    ]
