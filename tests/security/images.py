"""Hostile algorithm images: real containers built on the local engine and saved as upload archives.

Busybox images (FROM the static-busybox test image) carry one shell script each; the probe image (FROM
the python base image) runs tests/security/probe.py. Every image carries a label unique to this test
session, so its id is unique too: at the end of the session, any container, tag or image left behind by
the platform can be told apart from what other sessions on the same engine do.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from runners.images import save_image
from tests.fixtures.docker_engine import build_image

SESSION_LABEL = "podium.test.security-session"
PROBE_SOURCE = Path(__file__).with_name("probe.py")

# Shell helpers every busybox attack may use: the case ids, and constant predictions for all cases.
COMMON = r"""
cases() { grep -o '"case_id": "[^"]*"' /input/cases.json | cut -d'"' -f4; }
predict() {
  for c in $(cases); do mkdir -p "/output/$c" && printf 0.5 > "/output/$c/malignancy-likelihood.json"; done
}
"""

FORK_BOMB = r"""
read start rest < /proc/uptime
bomb() { bomb | bomb & }
bomb 2>/dev/null
while :; do  # builtins only from here: no fork is needed to wait or to report
  read now rest < /proc/uptime
  [ ${now%.*} -ge $((${start%.*} + 3)) ] && break
done
g=/sys/fs/cgroup/pids; [ -f $g/pids.max ] || g=/sys/fs/cgroup
read max < $g/pids.max
read peak < $g/pids.peak 2>/dev/null || peak=unknown
read word refused < $g/pids.events
echo "pids.max=$max pids.peak=$peak refused forks=$refused"
while :; do :; done
"""

CPU_SPIN = r"""
trap '' TERM INT HUP QUIT
echo "spinning with SIGTERM ignored"
while :; do :; done
"""

SLEEPER = r"""
trap '' TERM INT HUP QUIT
echo "sleeping for an hour with SIGTERM ignored"
sleep 3600
predict
"""

MEMORY_BOMB = r"""
echo "allocating 2 GiB"
exec dd if=/dev/zero of=/dev/null bs=2000M count=1
"""

FLOOD = r"""
yes 'warning: the flood goes on and on and on' | head -n 25575 > /tmp/chunk  # 1 MiB - 1 byte
dd if=/dev/zero bs=1M count={stdout_mib} 2>/dev/null
i=0; while [ $i -lt {stderr_mib} ]; do cat /tmp/chunk; i=$((i+1)); done >&2
echo "flood done: this is the last line" >&2
predict
"""

FILL_OUTPUT = r"""
dd if=/dev/zero of=/output/fill bs=1M count=64
echo "dd exit status: $?"
predict 2>/dev/null
exit 0
"""

SPARSE_OUTPUT = r"""
predict
truncate -s 1099511627776 /output/sparse.bin && echo "wrote a 1 TiB sparse file"
"""

MANY_FILES = r"""
predict
mkdir /output/junk && cd /output/junk && seq 1 150000 | xargs touch 2>/dev/null
n=0; for f in /output/junk/*; do n=$((n+1)); done
echo "files created: $n"
"""

FILL_SCRATCH = r"""
for where in /tmp /dev/shm; do
  if dd if=/dev/zero of=$where/fill bs=1M count=200 2>&1 | grep -q 'No space left on device'; then
    echo "$where: No space left on device after $(stat -c %s $where/fill) bytes"
  else
    echo "$where: no limit hit"
  fi
  rm -f $where/fill
done
predict
"""

LINKS = r"""
predict
set -- $(cases)
o=malignancy-likelihood.json
rm /output/$1/$o && ln -s /etc/passwd /output/$1/$o
rm -r /output/$2 && ln -s /etc /output/$2
ln -f /output/$4/$o /output/$3/$o
rm /output/$5/$o && ln /input/$5/nuclei-features.json /output/$5/$o 2>&1
rm /output/$6/$o && mkfifo /output/$6/$o
chmod u+s /output/$7/$o && echo "setuid bit set on /output/$7/$o"
mknod /output/$8/mem c 1 1 2>&1
rm /output/$9/$o && ln -s ../../../../../../../../etc/shadow /output/$9/$o
echo "links planted"
"""

LIAR = r"""
predict
set -- $(cases)
o=malignancy-likelihood.json
rm /output/$1/$o
printf NaN > /output/$2/$o
printf Infinity > /output/$3/$o
printf -- -Infinity > /output/$4/$o
printf '"0.5"' > /output/$5/$o
printf '[0.5]' > /output/$6/$o
printf 1.5 > /output/$7/$o
printf maybe > /output/$8/$o
printf '' > /output/$9/$o
shift 9
printf true > /output/$1/$o
printf null > /output/$2/$o
dd if=/dev/zero bs=1024 count=1100 2>/dev/null | tr '\0' '1' > /output/$3/$o
rm /output/$4/$o && mkdir /output/$4/$o
mkdir /output/not-a-case && printf 0.9 > /output/not-a-case/$o
printf 'notes' > /output/README.txt
echo "lies told"
"""

EXTRAS = r"""
predict
mkdir /output/not-a-case && printf 0.9 > /output/not-a-case/malignancy-likelihood.json
printf 'notes' > /output/README.txt
printf 1 > /output/$(cases | head -n 1)/extra.json
"""

LAYER_ESCAPE = r"""
for f in /etc/podium-escape-relative /etc/podium-escape-absolute; do echo "$f: $(cat $f)"; done
predict
"""

MARKUP = r"""
echo '<script>alert("pwned")</script><img src=x onerror=alert(1)>' >&2
exit 1
"""

BUSYBOX_ATTACKS = {
    "fork-bomb": FORK_BOMB,
    "cpu-spin": CPU_SPIN,
    "sleeper": SLEEPER,
    "memory-bomb": MEMORY_BOMB,
    "flood": FLOOD.replace("{stdout_mib}", "1024").replace("{stderr_mib}", "1024"),
    "fill-output": FILL_OUTPUT,
    "sparse-output": SPARSE_OUTPUT,
    "many-files": MANY_FILES,
    "fill-scratch": FILL_SCRATCH,
    "links": LINKS,
    "liar": LIAR,
    "extras": EXTRAS,
    "markup": MARKUP,
    "layer-escape": LAYER_ESCAPE,
}


@dataclass(frozen=True)
class HostileImage:
    name: str
    tag: str
    image_id: str
    archive: Path


class HostileImages:
    """Builds each hostile image once (on first use) and removes them all at the end of the session."""

    def __init__(self, client: docker.DockerClient, busybox: str, python_base: str, workdir: Path) -> None:
        self.client = client
        self.busybox = busybox
        self.python_base = python_base
        self.workdir = workdir
        self.session = uuid.uuid4().hex[:12]
        self._built: dict[str, HostileImage] = {}

    @property
    def built(self) -> list[HostileImage]:
        return list(self._built.values())

    def attack(self, name: str) -> HostileImage:
        """The busybox image that runs BUSYBOX_ATTACKS[name] (with the COMMON helpers)."""
        if name not in self._built:
            dockerfile = (f"FROM {self.busybox}\nCOPY attack.sh /opt/attack.sh\n"
                          f"LABEL {SESSION_LABEL}={self.session}\nUSER 0:0\n"
                          'ENTRYPOINT ["sh", "/opt/attack.sh"]\n')
            self._build(name, dockerfile, {"attack.sh": COMMON + BUSYBOX_ATTACKS[name]})
        return self._built[name]

    def probe(self, targets: dict[str, object]) -> HostileImage:
        """The python probe (tests/security/probe.py) with its targets, as root in its image's eyes."""
        if "probe" not in self._built:
            dockerfile = (f"FROM {self.python_base}\nCOPY probe.py targets.json /opt/probe/\n"
                          "RUN cp /usr/bin/python3.11 /opt/probe/suid-python && chmod 4755 /opt/probe/suid-python\n"
                          f"LABEL {SESSION_LABEL}={self.session}\nUSER 0:0\n"
                          'ENTRYPOINT ["python3", "/opt/probe/probe.py"]\n')
            self._build("probe", dockerfile, {"probe.py": PROBE_SOURCE.read_text(),
                                              "targets.json": json.dumps(targets)})
        return self._built["probe"]

    def _build(self, name: str, dockerfile: str, files: dict[str, bytes | str]) -> None:
        tag = f"podium-test/hostile-{name}:{self.session}"
        image_id = build_image(self.client, dockerfile, files, tag)
        archive = self.workdir / f"{name}.tar.gz"
        save_image(self.client, tag, archive)
        self._built[name] = HostileImage(name, tag, image_id, archive)

    def leftovers(self) -> list[str]:
        """Containers of these images, and platform tags still on them (call before remove_all)."""
        found = []
        for image in self.built:
            for container in self.client.containers.list(all=True, filters={"ancestor": image.image_id}):
                found.append(f"container {container.name} of {image.name}")
            with contextlib.suppress(docker.errors.ImageNotFound):
                extra = set(self.client.images.get(image.image_id).tags) - {image.tag}
                found.extend(f"tag {tag} on {image.name}" for tag in sorted(extra))
        return found

    def remove_all(self) -> list[str]:
        """Remove the session's images; returns the ones that something else still held."""
        held = []
        for image in self.built:
            for container in self.client.containers.list(all=True, filters={"ancestor": image.image_id}):
                container.remove(force=True)
            try:
                self.client.images.remove(image.image_id, force=True)
            except docker.errors.ImageNotFound:
                continue
            except docker.errors.APIError as exc:
                held.append(f"{image.name}: {exc}")
        return held
