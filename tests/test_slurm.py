"""The Slurm examples (examples/slurm/) on a private one-node Slurm cluster started here: slurmctld, slurmd and
munged with their configuration, state and sockets in a temporary folder, listening on loopback only, started and
stopped by their pids (nothing is left running, even when the test fails). submit.sh chains an embed array, a
merge, a related array and a merge with --dependency=afterok, each array task asking --gpus-per-task=1 (the
node declares two GPUs that are only counted, and the scripts run on USEREC_DEVICE=cpu); the merged files must
equal one process's run byte for byte. Debian's slurmctld, slurmd, slurm-client and munge are installed when
missing and the test runs as root (as in CI); otherwise it is skipped saying so."""
import os
import shutil
import signal
import stat
import socket
import subprocess
import tempfile
import time

import common
from common import BIN, DATA, ROOT, need_shared, run

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
PROGRAMS = ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged"]
ADIDAS = ("products/adidas_usa.csv", ["--text-col", "name,description", "--id-col", "sku"])
SHARDS = 3
NODE = "userec-node"


def find(program):
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


def need_slurm():
    if os.geteuid() != 0:
        raise common.Skip("the private Slurm cluster runs slurmd as root (which starts each job as its user) and "
                          f"installs {' '.join(PACKAGES)} when missing: run the tests as root, as CI does")
    missing = [p for p in PROGRAMS if not find(p)]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The packages' scripts start munge and slurmd as system services unless policy-rc.d says no (Docker images
    # have one): this test starts its own daemons and must leave none running.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# tests/test_slurm.py: no service starts while it installs Slurm\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            proc = subprocess.run(["sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                                   + " ".join(PACKAGES)], env=env, capture_output=True, text=True)
    finally:
        if made_policy:
            os.remove(policy)
    missing = [p for p in PROGRAMS if not find(p)]
    if proc.returncode or missing:
        raise common.Skip(f"installing {' '.join(PACKAGES)} failed (exit {proc.returncode}): "
                          f"{(proc.stderr or proc.stdout).strip()[-400:]}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tails = "".join(f"\n--- {p}:\n{open(p, errors='replace').read()[-2000:]}" for p in logs if os.path.exists(p))
    raise AssertionError(f"{what}: not within {timeout} s{tails}")


class Cluster:
    """munged, slurmctld and slurmd in `folder`, each a child of this process (run in the foreground)."""

    def __init__(self, folder):
        self.dir, self.procs = folder, []
        self.conf = os.path.join(folder, "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        for k in [k for k in self.env if k.startswith(("SLURM_", "SBATCH_", "SQUEUE_")) and k != "SLURM_CONF"]:
            del self.env[k]
        self.logs = [os.path.join(folder, n) for n in ("munged.log", "slurmctld.log", "slurmd.log")]

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        munge_socket = self.path("munge.socket")
        with open(self.path("munge.key"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(self.path("munge.key"), 0o400)
        self.spawn([find("munged"), "--foreground", "--force", "--socket", munge_socket, "--key-file",
                    self.path("munge.key"), "--pid-file", self.path("munged.pid"), "--log-file", self.logs[0],
                    "--seed-file", self.path("munge.seed"), "--num-threads", "2"])
        wait_for("munged's socket", lambda: os.path.exists(munge_socket), 10, self.logs)
        for d in ("state", "spool"):
            os.mkdir(self.path(d))
        host = socket.gethostname().split(".")[0]
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=userectest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={self.path("state")}
SlurmdSpoolDir={self.path("spool")}
SlurmctldPidFile={self.path("slurmctld.pid")}
SlurmdPidFile={self.path("slurmd.pid")}
SlurmctldLogFile={self.logs[1]}
SlurmdLogFile={self.logs[2]}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
# 16 CPUs whatever the machine has (config_overrides): two array tasks at once with the examples' --cpus-per-gpu=8
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
PlugStackConfig={self.path("plugstack.conf")}
GresTypes=gpu
NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs=16 Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
""")
        open(self.path("plugstack.conf"), "w").close()
        for gpu in ("gpu0", "gpu1"):  # stand-ins for /dev/nvidia0..1: Slurm only hands their numbers out
            os.mknod(self.path(gpu), 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        with open(self.path("gres.conf"), "w") as f:
            f.write(f"AutoDetect=off\nName=gpu File={self.path('gpu')}[0-1]\n")
        self.spawn([find("slurmctld"), "-D", "-i", "-f", self.conf])
        self.spawn([find("slurmd"), "-D", "-N", NODE, "-f", self.conf])
        wait_for("the node idle in sinfo", lambda: self.query(["sinfo", "-h", "-o", "%t"]).strip() == "idle", 30,
                 self.logs)

    def spawn(self, cmd):
        log = open(self.path(os.path.basename(cmd[0]) + ".out"), "w")
        self.logs.append(log.name)
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                           stdin=subprocess.DEVNULL))
        log.close()
        time.sleep(0.1)
        if self.procs[-1].poll() is not None:
            raise AssertionError(f"{cmd[0]} exited at once ({self.procs[-1].returncode}): "
                                 f"{open(log.name).read()[-2000:]}")

    def query(self, cmd):
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        return proc.stdout if proc.returncode == 0 else ""

    def stop(self, jobs):
        """Cancels the test's jobs (their steps end with them), then stops the daemons, newest first."""
        if jobs:
            subprocess.run(["scancel", *jobs], env=self.env, capture_output=True, timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.query(["squeue", "-h", "-j", ",".join(jobs)]).strip():
                time.sleep(0.2)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # slurmstepd and the jobs' processes are not our children (slurmd detaches them), but they run in the
        # test's folder: wait for the last to end (a step outlives its job by a moment), then kill them by pid
        deadline = time.monotonic() + 10
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def leftovers(self):
        """The pids of the processes still running in the test's folder (the daemons, slurmstepd, the jobs)."""
        root, pids = os.path.dirname(self.dir), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:  # gone, or not ours to read
                continue
            if cwd == root or cwd.startswith(root + os.sep):
                pids.append(int(entry))
        return pids


def job_states(cluster, job):
    """{job or array task id: state} from scontrol (jobs stay listed for MinJobAge after they end)."""
    out = cluster.query(["scontrol", "-o", "show", "job", job])
    states = {}
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        task = fields.get("ArrayTaskId")
        states[f"{fields.get('ArrayJobId')}_{task}" if task else fields.get("JobId")] = fields.get("JobState")
    return states


def test_slurm_examples_merge_to_one_run():
    need_shared("data/" + ADIDAS[0])
    need_slurm()
    model = common.tiny_usew()
    catalogue = os.path.join(DATA, ADIDAS[0])
    with tempfile.TemporaryDirectory(prefix="userec-slurm-") as tmp:
        os.chmod(tmp, 0o700)
        cluster = Cluster(os.path.join(tmp, "cluster"))
        os.mkdir(cluster.dir, 0o700)
        jobs = []
        try:
            cluster.start()
            out_dir = os.path.join(tmp, "out")
            env = {**cluster.env, "USEREC": BIN, "USEREC_DEVICE": "cpu",
                   "USEREC_RELATED_ARGS": "-k 5"}
            t0 = time.monotonic()
            proc = subprocess.run([os.path.join(ROOT, "examples", "slurm", "submit.sh"), str(SHARDS), model, catalogue,
                                   out_dir, *ADIDAS[1]], env=env, cwd=tmp, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"submit.sh exited {proc.returncode}: {proc.stderr}"
            jobs = proc.stdout.split()
            assert len(jobs) == 4, proc.stdout

            def finished():
                return not cluster.query(["squeue", "-h", "-j", ",".join(jobs)]).strip()
            wait_for("the four jobs to end", finished, 120, cluster.logs)
            states = {}
            for job in jobs:
                states.update(job_states(cluster, job))
            outs = "".join(f"\n--- {n}:\n{open(os.path.join(tmp, n)).read()[-1500:]}" for n in sorted(os.listdir(tmp))
                           if n.endswith(".out"))
            assert len(states) == 2 * SHARDS + 2 and set(states.values()) == {"COMPLETED"}, f"{states}{outs}"
            print(f"slurm: {len(states)} jobs and array tasks completed in {time.monotonic() - t0:.1f} s: "
                  f"{' '.join(sorted(states))}")

            single = os.path.join(tmp, "single")
            os.mkdir(single)
            run([BIN, "embed", "--model", model, "--input", catalogue, *ADIDAS[1], "--quiet", "-o",
                 os.path.join(single, "vectors.npy")])
            run([BIN, "related", "--emb", os.path.join(single, "vectors.npy"), "--ids",
                 os.path.join(single, "vectors.ids"), "-k", "5", "--quiet", "-o", os.path.join(single, "related.csv")])
            for name in ("vectors.npy", "vectors.ids", "vectors.rejects.tsv", "related.csv"):
                with open(os.path.join(out_dir, name), "rb") as got, open(os.path.join(single, name), "rb") as want:
                    assert got.read() == want.read(), f"{name}: the Slurm job's differs from one process's"
            parts = sorted(n for n in os.listdir(out_dir) if ".part-" in n and n.endswith((".npy", ".csv")))
            assert len(parts) == 2 * SHARDS, parts
            print(f"slurm: merged vectors, ids, rejects and related lists equal one process's ({', '.join(parts)})")
        finally:
            cluster.stop(jobs)
        left = [p.pid for p in cluster.procs if p.poll() is None] + cluster.leftovers()
        assert not left, f"processes of the test's cluster still running: {left}"
