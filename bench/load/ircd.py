"""The IRC servers the IRC dialect compares tcpchat with: ngircd and InspIRCd, as run by the bench.

Each gets its own configuration file in the run's temporary directory,
listens on one loopback port, and has every limit that would measure the
limit instead of the server raised or turned off: connections per address,
flood penalties and fakelag, receive and send queues, DNS and ident lookups.
What cannot be turned off is said in ``LIMITS_LEFT`` (and in
docs/performance.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NGIRCD = "/usr/sbin/ngircd"
INSPIRCD = "/usr/sbin/inspircd"

NGIRCD_CONFIG = """\
[Global]
    Name = bench.ngircd.local
    Info = tcpchat benchmark
    AdminInfo1 = tcpchat benchmark
    AdminEMail = bench@localhost
    Listen = 127.0.0.1
    Ports = {port}
    PidFile = {dir}/ngircd.pid
    MotdFile = {dir}/motd.txt
    ServerUID = {uid}
    ServerGID = {gid}

[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxNickLength = 31
    MaxPenaltyTime = 0
    PingTimeout = 600
    PongTimeout = 600

[Options]
    DNS = no
    Ident = no
    PAM = no
    MorePrivacy = no
    OperCanUseMode = no
"""

INSPIRCD_CONFIG = """\
<server name="bench.inspircd.local" description="tcpchat benchmark" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="bench" allow="127.0.0.1" timeout="60" pingfreq="10m"
         localmax="{clients}" globalmax="{clients}" maxconnwarn="no" limit="{clients}"
         resolvehostnames="no" useident="no" usednsbl="no"
         fakelag="no" threshold="4000000" commandrate="1000000000"
         recvq="16M" softsendq="16M" hardsendq="64M" maxchans="100">
<performance netbuffersize="65000" somaxconn="1024" softlimit="{clients}" clonesonconnect="no">
<options allowhalfop="no" hostintopic="no" defaultmodes="n">
<security announceinvites="none" hideserver="" userstats="Pu">
<channels users="100" opers="100">
<limits maxnick="32" maxchan="64">
<pid file="{dir}/inspircd.pid">
<files motd="{dir}/motd.txt">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{dir}/inspircd.log">
"""

LIMITS_LEFT = {
    "ngircd": (
        "nothing configurable (ngircd warns that MaxPenaltyTime = 0 is not recommended); "
        "its compiled-in buffer sizes are its own"
    ),
    "inspircd": (
        "netbuffersize 65000: with 65536 a sender's 50 KB burst was read 10 KB at a time, "
        "one read per 1-2 s timer tick (3,000 lines took 6 s, 7 ms with 65000); "
        "a client can still not send more than that in one read without waiting"
    ),
}


def version(name: str) -> str:
    """The version the server reports, as one line."""
    binary = {"ngircd": NGIRCD, "inspircd": INSPIRCD}[name]
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def command(name: str, port: int, workdir: Path, clients: int) -> list[str]:
    """Write ``name``'s configuration into ``workdir`` and return the command that runs it."""
    binary = {"ngircd": NGIRCD, "inspircd": INSPIRCD}[name]
    if not Path(binary).exists() and not shutil.which(binary):
        hint = "apt-get install -y inspircd" if name == "inspircd" else "apt-get install -y ngircd"
        raise SystemExit(f"{binary} not found ({hint}; bench/README.md)")
    (workdir / "motd.txt").write_text("benchmark\n")
    conf = workdir / f"{name}.conf"
    stat = workdir.stat()
    fields = {"port": port, "dir": workdir, "clients": clients}
    if name == "ngircd":
        conf.write_text(NGIRCD_CONFIG.format(uid=stat.st_uid, gid=stat.st_gid, **fields))
        return [binary, "--nodaemon", "--config", str(conf)]
    conf.write_text(INSPIRCD_CONFIG.format(**fields))
    return [binary, "--nofork", "--nopid", "--runasroot", "--config", str(conf)]


def config_text(name: str) -> str:
    """The configuration template, as shown in the report."""
    return NGIRCD_CONFIG if name == "ngircd" else INSPIRCD_CONFIG
