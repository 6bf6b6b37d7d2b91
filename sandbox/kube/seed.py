"""The LiteMaaS objects of litemaas-facts.md §4.1, as the RHDP HA role creates them."""

from __future__ import annotations

from typing import Any

LITELLM_IMAGE = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
BACKEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
FRONTEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
REDIS_IMAGE = "registry.redhat.io/rhel9/redis-7:latest"
POSTGRES_IMAGE = "docker.io/library/postgres:16-alpine"
BUSYBOX_IMAGE = "busybox:1.36"


def _container(name: str, image: str, port: int | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": extra.pop("imagePullPolicy", "IfNotPresent"),
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if port is not None:
        c["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    c.update(extra)
    return c


def _init(name: str, image: str, command: str, **extra: Any) -> dict[str, Any]:
    return _container(name, image, command=["sh", "-c", command], **extra)


def _http_probe(path: str, port: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def _deployment(
    name: str,
    labels: dict[str, str],
    replicas: int,
    containers: list[dict[str, Any]],
    init_containers: list[dict[str, Any]] | None = None,
    **pod_extra: Any,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always", **pod_extra}
    if init_containers:
        pod_spec["initContainers"] = init_containers
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def deployments() -> list[dict[str, Any]]:
    """The four Deployments (litellm, backend, frontend, redis) with their init containers."""
    litellm = _deployment(
        "litellm",
        {"app": "litellm", "component": "ai-proxy"},
        1,
        [
            _container(
                "litellm",
                LITELLM_IMAGE,
                4000,
                env=[
                    {"name": "STORE_MODEL_IN_DB", "value": "True"},
                    {"name": "REDIS_HOST", "value": "litellm-redis"},
                    {"name": "REDIS_PORT", "value": "6379"},
                ],
                readinessProbe=_http_probe("/health/readiness", 4000),
                livenessProbe=_http_probe("/health/liveness", 4000),
            )
        ],
        [
            _init("wait-for-postgres", BUSYBOX_IMAGE, "until nc -z litellm-postgres 5432; do sleep 2; done"),
            _init("wait-for-redis", BUSYBOX_IMAGE, "until nc -z litellm-redis 6379; do sleep 2; done"),
        ],
    )
    backend = _deployment(
        "litellm-backend",
        {"app": "litellm-backend", "component": "api"},
        1,
        [
            _container(
                "backend",
                BACKEND_IMAGE,
                8080,
                env=[
                    {"name": "PORT", "value": "8080"},
                    {"name": "NODE_ENV", "value": "production"},
                    {"name": "LOG_LEVEL", "value": "info"},
                ],
                readinessProbe=_http_probe("/api/v1/health/ready", 8080),
                livenessProbe=_http_probe("/api/v1/health/live", 8080),
            )
        ],
        [
            _init(
                "wait-for-database",
                "postgres:16-alpine",
                "until pg_isready -h litellm-postgres; do sleep 2; done",
            ),
            _init(
                "run-migrations",
                BACKEND_IMAGE,
                "set -e; node -e 'require(\"./dist/lib/database-migrations\")'",
            ),
        ],
    )
    frontend = _deployment(
        "litellm-frontend",
        {"app": "litellm-frontend", "component": "web"},
        3,
        [
            _container(
                "frontend",
                FRONTEND_IMAGE,
                8080,
                env=[{"name": "BACKEND_URL", "value": "http://litellm-backend:8080"}],
                volumeMounts=[{"name": "assets-volume", "mountPath": "/opt/app-root/src/assets"}],
                readinessProbe=_http_probe("/", 8080),
            )
        ],
        [
            _init(
                "copy-custom-logos",
                FRONTEND_IMAGE,
                "cp -r /opt/app-root/src/assets/* /assets/",
                imagePullPolicy="Always",
                volumeMounts=[{"name": "assets-volume", "mountPath": "/assets"}],
            ),
            _init("wait-for-backend", BUSYBOX_IMAGE, "until nc -z litellm-backend 8080; do sleep 2; done"),
        ],
        volumes=[{"name": "assets-volume", "emptyDir": {}}],
    )
    redis = _deployment(
        "litellm-redis",
        {"app": "litellm-redis", "component": "cache"},
        1,
        [_container("redis", REDIS_IMAGE, 6379)],
    )
    return [litellm, backend, frontend, redis]


def postgres_statefulset() -> dict[str, Any]:
    """StatefulSet `litellm-postgres` (its pod `litellm-postgres-0` is created by the sandbox)."""
    labels = {"app": "litellm-postgres", "component": "database"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "litellm-postgres", "labels": dict(labels), "generation": 1},
        "spec": {
            "replicas": 1,
            "serviceName": "litellm-postgres",
            "selector": {"matchLabels": {"app": "litellm-postgres"}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        _container(
                            "postgres",
                            POSTGRES_IMAGE,
                            5432,
                            args=["postgres", "-c", "max_connections=200"],
                            volumeMounts=[
                                {"name": "postgres-storage", "mountPath": "/var/lib/postgresql/data"}
                            ],
                        )
                    ],
                    "restartPolicy": "Always",
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "postgres-storage", "labels": {"app": "litellm-postgres"}},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }


def services() -> list[dict[str, Any]]:
    """ClusterIP Services in front of each component."""
    ports = {
        "litellm": 4000,
        "litellm-backend": 8080,
        "litellm-frontend": 8080,
        "litellm-postgres": 5432,
        "litellm-redis": 6379,
    }
    result = []
    for i, (name, port) in enumerate(ports.items()):
        spec: dict[str, Any] = {
            "type": "ClusterIP",
            "clusterIP": f"172.30.0.{10 + i}",
            "selector": {"app": name},
            "ports": [
                {
                    "name": "http" if port in (4000, 8080) else name.split("-")[-1],
                    "port": port,
                    "protocol": "TCP",
                    "targetPort": port,
                }
            ],
        }
        if name == "litellm-backend":
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 3600}}
        result.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": spec,
            }
        )
    return result


APPS_DOMAIN = "apps.sandbox.example"
ROUTE_GUID = "rhpds"


def _route(
    name: str, host: str, service: str, port: int, *, path: str | None = None, **annotations: str
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": host,
        "to": {"kind": "Service", "name": service, "weight": 100},
        "port": {"targetPort": port},
        "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
        "wildcardPolicy": "None",
    }
    if path is not None:
        spec["path"] = path
    meta: dict[str, Any] = {"name": name, "labels": {"app": service}}
    if annotations:
        meta["annotations"] = dict(annotations)
    admitted = {"type": "Admitted", "status": "True", "lastTransitionTime": "2026-06-18T09:00:00Z"}
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": meta,
        "spec": spec,
        "status": {
            "ingress": [
                {
                    "host": host,
                    "routerName": "default",
                    "routerCanonicalHostname": f"router-default.{APPS_DOMAIN}",
                    "wildcardPolicy": "None",
                    "conditions": [admitted],
                }
            ]
        },
    }


def routes(guid: str = ROUTE_GUID, domain: str = APPS_DOMAIN) -> list[dict[str, Any]]:
    """The three edge-TLS Routes of the HA role (facts §4.1): API, admin (`/api` → backend), frontend."""
    return [
        _route(
            "litellm",
            f"litellm-{guid}.{domain}",
            "litellm",
            4000,
            **{"haproxy.router.openshift.io/timeout": "600s"},
        ),
        _route("litellm-admin", f"litellm-admin-{guid}.{domain}", "litellm-backend", 8080, path="/api"),
        _route("litellm-frontend", f"litellm-frontend-{guid}.{domain}", "litellm-frontend", 8080),
    ]
