"""A small, real Hugging Face Hub server for tests: the HTTP endpoints ``huggingface_hub`` calls.

It runs a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) and keeps repositories under a temp directory with
a tiny git-like model: every commit is a full snapshot ``{path: blob}``, branches and tags point at commits.
Implemented endpoints (what ``HfApi``, ``snapshot_download`` and ``hf_hub_download`` use):

- ``POST /api/repos/create`` (409 when the repo exists), ``GET /api/{type}s/{id}[/revision/{rev}]``
- ``GET /api/{type}s/{id}/refs``, ``POST|DELETE .../tag/{rev|tag}``, ``POST .../branch/{branch}``
- ``GET /api/{type}s/{id}/tree/{rev}[/{path}]`` (``recursive``), ``POST .../paths-info/{rev}``
- ``POST .../preupload/{rev}`` (binary or large files go through LFS), ``POST .../commit/{branch}`` (ndjson)
- ``POST /{prefix}{id}.git/info/lfs/objects/batch`` (basic transfer), ``PUT /lfs-upload/{oid}``,
  ``POST /lfs-verify``
- ``HEAD|GET /{prefix}{id}/resolve/{rev}/{path}``, ``GET /api/whoami-v2``, ``POST /api/validate-yaml``

No xet: point clients at it with :func:`hub_env` (sets ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET``, a dummy token).
Every request is logged in :attr:`HubServer.requests` (method, path, JSON body) so tests can assert on it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DUMMY_TOKEN = "hf_localtestserver"
LFS_SUFFIXES = (".parquet", ".mp4", ".safetensors", ".bin", ".png", ".jpg", ".arrow")
LFS_MIN_SIZE = 10 * 1024 * 1024
TYPE_PREFIX = {"dataset": "datasets/", "space": "spaces/", "model": ""}


@dataclass(frozen=True)
class Blob:
    sha256: str
    git_oid: str
    size: int
    lfs: bool


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool | None
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        oid = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(oid) if oid else None


class HubError(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.error_code, self.extra = status, message, error_code, extra


class HubServer:
    """The server state and its HTTP front. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(self, storage: Path, token: str | None = DUMMY_TOKEN):
        self.token = token  # writes (and reads of private repos) need ``Authorization: Bearer <token>``
        self.storage = Path(storage)
        (self.storage / "objects").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hf-hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- state helpers used by tests -------------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def file_bytes(self, repo_id: str, path: str, rev: str = "main", repo_type: str = "dataset") -> bytes:
        commit = self.repo(repo_id, repo_type).resolve(rev)
        if commit is None or path not in commit.files:
            raise KeyError(f"{path} not in {repo_id}@{rev}")
        return self._object_path(commit.files[path].sha256).read_bytes()

    def seed_repo(self, repo_id: str, files: dict[str, bytes], *, tags: tuple[str, ...] = (),
                  branch: str = "main", repo_type: str = "dataset") -> str:
        """Create (or extend) a repo directly with ``files`` committed on ``branch``; tag that commit."""
        with self._lock:
            repo = self.repos.get((repo_type, repo_id)) or self._create(repo_id, repo_type, None)
            if branch not in repo.branches:
                repo.branches[branch] = repo.branches["main"]
            parent = repo.commits[repo.branches[branch]]
            new_files = dict(parent.files)
            for path, data in files.items():
                new_files[path] = self._store(data, lfs=self._wants_lfs(path, data[:512], len(data)))
            commit = self._commit(repo, branch, f"seed {len(files)} files", new_files)
            for tag in tags:
                repo.tags[tag] = commit.oid
            return commit.oid

    # ---- storage -------------------------------------------------------------------------------
    def _object_path(self, sha256: str) -> Path:
        return self.storage / "objects" / sha256

    def _store(self, data: bytes, lfs: bool) -> Blob:
        sha = hashlib.sha256(data).hexdigest()
        path = self._object_path(sha)
        if not path.exists():
            path.write_bytes(data)
        git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return Blob(sha256=sha, git_oid=git_oid, size=len(data), lfs=lfs)

    @staticmethod
    def _wants_lfs(path: str, sample: bytes, size: int) -> bool:
        return path.endswith(LFS_SUFFIXES) or b"\0" in sample or size >= LFS_MIN_SIZE

    def _create(self, repo_id: str, repo_type: str, private: bool | None) -> Repo:
        repo = Repo(repo_id=repo_id, repo_type=repo_type, private=private)
        self.repos[(repo_type, repo_id)] = repo
        self._commit(repo, "main", "initial commit", {})
        return repo

    def _commit(self, repo: Repo, branch: str, message: str, files: dict[str, Blob]) -> Commit:
        parent = repo.branches.get(branch)
        seed = json.dumps([parent, message, sorted((p, b.git_oid) for p, b in files.items()), next(self._counter)])
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(oid=oid, parent=parent, message=message, files=files)
        repo.commits[oid] = commit
        repo.branches[branch] = oid
        return commit

    # ---- endpoint logic (called by the handler, under the lock) ---------------------------------
    def _get_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found for url: {repo_type}s/{repo_id}", "RepoNotFound")
        return repo

    def _get_commit(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    @staticmethod
    def validate_yaml(content: str) -> tuple[int, dict, dict]:
        """Parse the README front matter like the Hub does: a YAML mapping between ``---`` lines."""
        import yaml

        parts = content.split("---\n")
        if content.startswith("---\n") and len(parts) >= 3:
            try:
                meta = yaml.safe_load(parts[1])
            except yaml.YAMLError as e:
                return 400, {"errors": [{"message": f"invalid YAML: {e}"}]}, {}
            if not isinstance(meta, dict):
                return 400, {"errors": [{"message": "metadata must be a YAML mapping"}]}, {}
        return 200, {"errors": [], "warnings": []}, {}

    def create_repo(self, body: dict) -> dict:
        repo_type = body.get("type") or "model"
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else f"tester/{body['name']}"
        url = f"{self.url}/{TYPE_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            raise HubError(409, "You already created this repo", None, url=url)
        visibility = body.get("visibility")
        self._create(repo_id, repo_type, None if visibility is None else visibility == "private")
        return {"url": url, "name": repo_id, "id": repo_id}

    def repo_info(self, repo: Repo, rev: str) -> dict:
        commit = self._get_commit(repo, rev)
        return {
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "private": bool(repo.private),
            "tags": [],
            "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
        }

    def refs(self, repo: Repo) -> dict:
        def ref(kind: str, name: str, oid: str) -> dict:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        return {
            "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
            "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
            "converts": [],
            "pullRequests": [],
        }

    @staticmethod
    def _tree_entry(path: str, blob: Blob) -> dict:
        entry: dict[str, Any] = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
        if blob.lfs:
            entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": 134}
        return entry

    def tree(self, repo: Repo, rev: str, prefix: str, recursive: bool) -> list[dict]:
        commit = self._get_commit(repo, rev)
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        out: list[dict] = []
        folders: set[str] = set()
        for path in sorted(commit.files):
            if not path.startswith(base):
                continue
            rest = path[len(base):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = base + "/".join(parts[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    out.append({"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                "size": 0, "path": folder})
            if recursive or len(parts) == 1:
                out.append(self._tree_entry(path, commit.files[path]))
        if prefix and not out and prefix not in commit.files:
            raise HubError(404, f"Entry not found: {prefix}", "EntryNotFound")
        return out

    def paths_info(self, repo: Repo, rev: str, paths: list[str]) -> list[dict]:
        commit = self._get_commit(repo, rev)
        return [self._tree_entry(p, commit.files[p]) for p in paths if p in commit.files]

    def preupload(self, repo: Repo, rev: str, body: dict) -> dict:
        commit = repo.resolve(rev)
        files = []
        for f in body.get("files", []):
            sample = base64.b64decode(f.get("sample", ""))
            existing = commit.files.get(f["path"]) if commit else None
            files.append({
                "path": f["path"],
                "uploadMode": "lfs" if self._wants_lfs(f["path"], sample, int(f["size"])) else "regular",
                "shouldIgnore": False,
                "oid": existing.git_oid if existing else None,
            })
        return {"files": files, "commitOid": commit.oid if commit else None}

    def lfs_batch(self, body: dict) -> dict:
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self._object_path(oid).exists():
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{oid}", "header": {}},
                    "verify": {"href": f"{self.url}/lfs-verify", "header": {}},
                }
            objects.append(entry)
        return {"transfer": "basic", "objects": objects}

    def lfs_upload(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"sha256 mismatch for LFS object {oid}")
        self._store(data, lfs=True)

    def lfs_verify(self, body: dict) -> dict:
        path = self._object_path(body["oid"])
        if not path.exists() or path.stat().st_size != int(body["size"]):
            raise HubError(404, f"LFS object {body['oid']} missing")
        return {"oid": body["oid"], "size": body["size"]}

    def commit(self, repo: Repo, branch: str, lines: list[dict]) -> dict:
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch} (commits go to a branch)", "RevisionNotFound")
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        parent = repo.commits[repo.branches[branch]]
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(parent.files)
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else \
                    value["content"].encode()
                files[value["path"]] = self._store(data, lfs=False)
            elif key == "lfsFile":
                obj = self._object_path(value["oid"])
                if not obj.exists():
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = self._store(obj.read_bytes(), lfs=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                base = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(base)}
        commit = self._commit(repo, branch, header.get("summary", ""), files)
        prefix = TYPE_PREFIX[repo.repo_type]
        return {"commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{commit.oid}", "commitOid": commit.oid,
                "pullRequestUrl": None, "success": True}

    def create_tag(self, repo: Repo, rev: str, body: dict) -> dict:
        commit = self._get_commit(repo, rev)
        tag = body["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        return {}

    def delete_tag(self, repo: Repo, tag: str) -> dict:
        if repo.tags.pop(tag, None) is None:
            raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
        return {}

    def create_branch(self, repo: Repo, branch: str, body: dict) -> dict:
        if branch in repo.branches:
            raise HubError(409, f"Branch {branch} already exists")
        start = body.get("startingPoint") or "main"
        repo.branches[branch] = self._get_commit(repo, start).oid
        return {}


def _make_handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        # -- plumbing --
        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, payload: Any = None, *, raw: bytes | None = None,
                  headers: dict[str, str] | None = None, head: bool = False) -> None:
            data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _error(self, err: HubError, head: bool = False) -> None:
            headers = {"X-Error-Message": err.message}
            if err.error_code:
                headers["X-Error-Code"] = err.error_code
            self._send(err.status, {"error": err.message, **err.extra}, headers=headers, head=head)

        def _dispatch(self, method: str) -> None:
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            segs = [unquote(s) for s in split.path.strip("/").split("/")]
            body = self._body() if method in ("POST", "PUT", "DELETE") else b""
            parsed: Any = None
            ctype = self.headers.get("Content-Type", "")
            if body and "ndjson" in ctype:
                parsed = [json.loads(line) for line in body.splitlines() if line.strip()]
            elif body and "json" in ctype:
                parsed = json.loads(body)
            elif body and "form" in ctype:
                parsed = parse_qs(body.decode())
            with server._lock:
                server.requests.append((method, split.path, parsed))
            try:
                self._authorize(method, segs)
                with server._lock:
                    result = self._route(method, segs, query, body, parsed)
            except HubError as err:
                self._error(err, head=method == "HEAD")
                return
            except (KeyError, ValueError, TypeError) as err:
                self._error(HubError(400, f"bad request: {err!r}"), head=method == "HEAD")
                return
            if result is not None:
                status, payload, kwargs = result
                self._send(status, payload, head=method == "HEAD", **kwargs)

        def _authorize(self, method: str, segs: list[str]) -> None:
            """Writes need the server token; so does reading a private repo (404, like the Hub)."""
            if server.token is None or segs[0] == "lfs-upload":  # LFS PUTs go to pre-signed URLs
                return
            authorized = self.headers.get("Authorization", "") == f"Bearer {server.token}"
            if method in ("POST", "PUT", "DELETE") and not authorized:
                raise HubError(401, "Invalid credentials in Authorization header")
            if not authorized:
                key = _repo_key(segs)
                with server._lock:
                    repo = server.repos.get(key) if key else None
                if repo is not None and repo.private:
                    raise HubError(404, "Repository Not Found", "RepoNotFound")

        def _route(self, method: str, segs: list[str], query: dict, body: bytes, parsed: Any):
            if segs[:2] == ["api", "whoami-v2"]:
                return 200, {"type": "user", "name": "tester", "orgs": [],
                             "auth": {"type": "access_token", "accessToken": {"role": "write"}}}, {}
            if segs[:2] == ["api", "validate-yaml"] and method == "POST":
                return server.validate_yaml((parsed or {}).get("content", ""))
            if segs[:3] == ["api", "repos", "create"] and method == "POST":
                return 200, server.create_repo(parsed or {}), {}
            if segs[0] == "lfs-upload" and method == "PUT":
                server.lfs_upload(segs[1], body)
                return 200, {}, {}
            if segs[0] == "lfs-verify" and method == "POST":
                return 200, server.lfs_verify(parsed), {}
            if segs[0] == "api" and len(segs) >= 4 and segs[1] in ("models", "datasets", "spaces"):
                repo = server._get_repo(segs[1][:-1], f"{segs[2]}/{segs[3]}")
                return self._route_api(method, repo, segs[4:], query, parsed)
            # git-side routes: /{prefix}{ns}/{name}.git/info/lfs/objects/batch and .../resolve/{rev}/{path}
            repo_type = "model"
            if segs[0] in ("datasets", "spaces"):
                repo_type, segs = segs[0][:-1], segs[1:]
            if len(segs) >= 2 and segs[1].endswith(".git") and segs[2:] == ["info", "lfs", "objects", "batch"]:
                server._get_repo(repo_type, f"{segs[0]}/{segs[1][:-4]}")
                return 200, server.lfs_batch(json.loads(body)), {}
            if len(segs) >= 5 and segs[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(server._get_repo(repo_type, f"{segs[0]}/{segs[1]}"), segs[3],
                                     "/".join(segs[4:]))
            raise HubError(404, f"no route for {method} /{'/'.join(segs)}")

        def _route_api(self, method: str, repo: Repo, rest: list[str], query: dict, parsed: Any):
            if not rest and method == "GET":
                return 200, server.repo_info(repo, "main"), {}
            action, args = rest[0], rest[1:]
            if action == "revision" and method == "GET":
                return 200, server.repo_info(repo, "/".join(args)), {}
            if action == "refs" and method == "GET":
                return 200, server.refs(repo), {}
            if action == "tree" and method == "GET":
                recursive = query.get("recursive", "false").lower() in ("1", "true")
                return 200, server.tree(repo, args[0], "/".join(args[1:]), recursive), {}
            if action == "paths-info" and method == "POST":
                paths = (parsed or {}).get("paths", [])
                return 200, server.paths_info(repo, args[0], paths if isinstance(paths, list) else [paths]), {}
            if action == "preupload" and method == "POST":
                return 200, server.preupload(repo, args[0], parsed or {}), {}
            if action == "commit" and method == "POST":
                return 200, server.commit(repo, "/".join(args), parsed or []), {}
            if action == "tag" and method == "POST":
                return 200, server.create_tag(repo, "/".join(args), parsed or {}), {}
            if action == "tag" and method == "DELETE":
                return 200, server.delete_tag(repo, "/".join(args)), {}
            if action == "branch" and method == "POST":
                return 200, server.create_branch(repo, "/".join(args), parsed or {}), {}
            raise HubError(404, f"no route for {method} api/.../{'/'.join(rest)}")

        def _resolve(self, repo: Repo, rev: str, path: str):
            commit = server._get_commit(repo, rev)
            blob = commit.files.get(path)
            if blob is None:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            etag = f'"{blob.sha256 if blob.lfs else blob.git_oid}"'
            headers = {"X-Repo-Commit": commit.oid, "ETag": etag}
            if blob.lfs:
                headers["X-Linked-Etag"] = etag
                headers["X-Linked-Size"] = str(blob.size)
            return 200, None, {"raw": server._object_path(blob.sha256).read_bytes(), "headers": headers}

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


def _repo_key(segs: list[str]) -> tuple[str, str] | None:
    """(repo_type, repo_id) addressed by an API or git-side path, if any."""
    if segs[0] == "api":
        if len(segs) >= 4 and segs[1] in ("models", "datasets", "spaces"):
            return segs[1][:-1], f"{segs[2]}/{segs[3]}"
        return None
    repo_type = "model"
    if segs[0] in ("datasets", "spaces"):
        repo_type, segs = segs[0][:-1], segs[1:]
    if len(segs) >= 2:
        return repo_type, f"{segs[0]}/{segs[1].removesuffix('.git')}"
    return None


@contextlib.contextmanager
def hub_env(url: str, token: str = DUMMY_TOKEN) -> Iterator[None]:
    """Point ``huggingface_hub`` (already imported or not) at ``url`` with xet disabled and a dummy token."""
    import huggingface_hub.constants as hf_constants

    env = {"HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": token, "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    attrs = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
    }
    old_env = {k: os.environ.get(k) for k in env}
    old_attrs = {k: getattr(hf_constants, k) for k in attrs if hasattr(hf_constants, k)}
    os.environ.update(env)
    for k, v in attrs.items():
        setattr(hf_constants, k, v)
    try:
        yield
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for k in attrs:
            if k in old_attrs:
                setattr(hf_constants, k, old_attrs[k])
