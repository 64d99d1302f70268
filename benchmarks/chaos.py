#!/usr/bin/python3
"""The chaos run (issue 12): the distributed pipeline under crashes, restarts and outages changes no result.

Every stage service runs in its own process over a private RabbitMQ node and Redis server on loopback
(infra/local.sh), with one libtorch thread each so results are reproducible across processes.

1. twins: N smoke experiments (seeds 1..N), undisturbed.
2. chaos: the same N specs again under new ids while a seeded schedule kill -9s every worker kind and the
   coordinator (each restarted after a few seconds), restarts the broker and takes Redis down for a while.
   Each must end with exactly its twin's genotype and test top-1; no message may be left in any error queue, no
   experiment may hold two history points for one (stage, phase, epoch, step), and every victim must be reached.
3. at once: M smoke experiments submitted together; all must complete. Prints the coordinator's peak memory
   and the time per experiment.

    /usr/bin/python3 benchmarks/chaos.py [--experiments 10] [--at-once 50] [--seed 1] [--dir DIR]
        [--phase-timeout 1800] [--no-build]

Exits non-zero when any target is missed; the summary is printed and written to DIR/summary.json.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = {
    "vital-blocks": "HourNas.VitalBlocks",
    "shrinking": "HourNas.SpaceShrinking",
    "supernet": "HourNas.SupernetTraining",
    "retraining": "HourNas.Retraining",
}
FINISHED = {"Completed", "Failed", "Cancelled"}


def log(message):
    print(time.strftime("%H:%M:%S"), message, flush=True)


class Deployment:
    """The broker, Redis, the coordinator and one process per worker kind, each restartable."""

    def __init__(self, folder, ports):
        self.folder = folder
        self.infra = os.path.join(folder, "infra")
        self.api_port, self.silo_port, self.gateway_port, self.amqp_port, self.redis_port = ports
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.processes = {}
        self.env = dict(os.environ, HOURNAS_RABBITMQ_PORT=str(self.amqp_port),
                        HOURNAS_REDIS_PORT=str(self.redis_port))
        os.makedirs(os.path.join(folder, "logs"), exist_ok=True)

    def local(self, command):
        out = subprocess.run(["bash", os.path.join(ROOT, "infra", "local.sh"), command, self.infra],
                             env=self.env, check=True, capture_output=True, text=True)
        return out.stdout

    def start_infra(self):
        for line in self.local("start").splitlines():
            name, value = line.removeprefix("export ").split("=", 1)
            self.env[name] = value

    def service_env(self, name):
        env = dict(self.env)
        env.update({
            "HourNas__Transport": "RabbitMQ",
            "HourNas__Artifacts": os.path.join(self.folder, "artifacts"),
            "HourNas__Worker": name,
            "HOURNAS_THREADS": "1",
            "Logging__LogLevel__Default": "Warning",
            "Logging__LogLevel__Microsoft.Hosting.Lifetime": "Information",
        })
        if name == "coordinator":
            env.update({
                "HourNas__Clustering": "Redis",
                "HourNas__ClusterId": "chaos",
                "HourNas__SiloPort": str(self.silo_port),
                "HourNas__GatewayPort": str(self.gateway_port),
                "Urls": self.url,
            })
        else:
            env["Urls"] = "http://127.0.0.1:0"
        return env

    def start(self, name):
        project = "HourNas.Coordinator" if name == "coordinator" else WORKERS[name]
        dll = os.path.join(ROOT, "services", project, "bin", "Release", "net10.0", project + ".dll")
        out = open(os.path.join(self.folder, "logs", name + ".log"), "a")
        self.processes[name] = subprocess.Popen(["dotnet", dll], env=self.service_env(name), stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)
        if name == "coordinator":
            wait_until(lambda: self.health() is not None, 90, "the coordinator answering")

    def kill(self, name):
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def health(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as answer:
                return answer.read().decode()
        except urllib.error.HTTPError as e:
            return e.read().decode()
        except OSError:
            return None

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def submit(self, experiment_id, seed):
        # A coordinator or Redis that is down answers 503 or not at all: submitting the same id and spec again is
        # a no-op, so retry.
        def attempt():
            try:
                self.api("POST", "/experiments", {"id": experiment_id, "spec": {"preset": "smoke", "seed": seed}})
                return True
            except (urllib.error.URLError, OSError):
                return False
        wait_until(attempt, 300, f"submitting {experiment_id}")

    def state(self, experiment_id):
        try:
            return self.api("GET", "/experiments/" + experiment_id)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def rss_mb(self, name):
        try:
            with open(f"/proc/{self.processes[name].pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        try:
            self.local("stop")
        except subprocess.CalledProcessError:
            pass


def wait_until(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(1)
    raise TimeoutError(f"{what}: not within {seconds} s")


def wait_finished(deployment, ids, seconds, during=None):
    """Polls until every experiment is finished; `during` runs between polls (the chaos schedule)."""
    deadline = time.time() + seconds
    states = {}
    reported = time.time()
    while time.time() < deadline:
        if time.time() - reported > 30:
            done = sum(1 for st in states.values() if st["status"] in FINISHED)
            log(f"{done}/{len(ids)} finished")
            reported = time.time()
        for i in ids:
            if i not in states or states[i]["status"] not in FINISHED:
                state = deployment.state(i)
                if state is not None:
                    states[i] = state
        if all(i in states and states[i]["status"] in FINISHED for i in ids):
            return states
        if during is not None:
            during()
        time.sleep(2)
    unfinished = [i for i in ids if i not in states or states[i]["status"] not in FINISHED]
    raise TimeoutError(f"{len(unfinished)} experiments unfinished after {seconds} s: {unfinished[:5]}")


def duplicate_points(state):
    keys = [(p["stage"], p["phase"], p["epoch"], p["step"]) for p in state.get("progress", [])]
    return len(keys) - len(set(keys))


STAGES_OF = {
    "vital-blocks": {"vital-blocks"},
    "shrinking": {"shrink"},
    "supernet": {"stage1", "stage2"},
    "retraining": {"retrain"},
}
VICTIMS = ["vital-blocks", "shrinking", "supernet", "coordinator", "retraining", "broker", "redis"]


class Chaos:
    """A seeded schedule. The vital-blocks worker, whose analysis takes milliseconds, is killed while the experiments
    are being submitted (`strike` from the submission loop), so their commands reach a dead worker. The first round
    then takes every other victim once in pipeline order with short pauses, the retraining worker once one of its
    stages runs (at most 30 s of waiting); later rounds take every victim once in random order."""

    def __init__(self, deployment, rng, ids):
        self.deployment = deployment
        self.rng = rng
        self.ids = ids
        self.round = [v for v in reversed(VICTIMS) if v != "vital-blocks"]
        self.first_round = True
        self.next_at = time.time() + 1
        self.waited_since = None
        self.events = []

    def busy(self, kind):
        """Whether a worker of `kind` is working on some experiment's stage right now."""
        for experiment_id in self.ids:
            state = self.deployment.state(experiment_id) or {}
            for stage in state.get("stages", []):
                if (stage["stage"] in STAGES_OF[kind] and stage["status"] == "Running"
                        and stage.get("receivedAt")):
                    return True
        return False

    def strike(self, victim, while_down=None):
        """Kills or stops the victim, runs `while_down` (e.g. more submissions), restarts it after a pause."""
        busy = victim in STAGES_OF and self.busy(victim)
        down = self.rng.uniform(20, 40) if victim == "redis" else self.rng.uniform(2, 6)
        d = self.deployment
        started = time.time()
        if victim == "broker":
            d.local("stop-rabbitmq")
        elif victim == "redis":
            d.local("stop-redis")
        else:
            d.kill(victim)
        if while_down is not None:
            while_down()
        time.sleep(max(0.0, down - (time.time() - started)))
        if victim in ("broker", "redis"):
            d.local("start")
        else:
            d.start(victim)
        what = {"broker": "broker restarted", "redis": "Redis down"}.get(victim, f"kill -9 {victim}")
        down = time.time() - started
        event = {"at": time.strftime("%H:%M:%S"), "victim": victim, "event": what, "seconds_down": round(down, 1)}
        if victim in STAGES_OF:
            event["busy"] = busy
        self.events.append(event)
        log(f"chaos: {what}{' mid-stage' if busy else ''}, {down:.1f} s down")

    def __call__(self):
        if time.time() < self.next_at:
            return
        if not self.round:
            self.round = list(VICTIMS)
            self.rng.shuffle(self.round)
            self.first_round = False
        victim = self.round[-1]
        if self.first_round and victim == "retraining" and not self.busy(victim):
            # wait for a retraining to start, at most 30 s, so the kill interrupts a training
            self.waited_since = self.waited_since or time.time()
            if time.time() - self.waited_since < 30:
                return
        self.round.pop()
        self.waited_since = None
        self.strike(victim)
        self.next_at = time.time() + (self.rng.uniform(1, 4) if self.first_round else self.rng.uniform(5, 15))

    def missed(self):
        """Victims no event reached (the run fails if any)."""
        return [v for v in VICTIMS if v not in {e["victim"] for e in self.events}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--at-once", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir")
    parser.add_argument("--phase-timeout", type=int, default=1800)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    folder = args.dir or tempfile.mkdtemp(prefix="hournas-chaos.")
    if not args.no_build:
        log("building the services (Release)")
        for project in ["HourNas.Coordinator", *WORKERS.values()]:
            subprocess.run(["dotnet", "build", "-c", "Release", "-v", "q", "--nologo",
                            os.path.join(ROOT, "services", project)], check=True, stdout=subprocess.DEVNULL)
    d = Deployment(folder, (27580, 27581, 27582, 27672, 27379))
    summary = {"folder": folder, "experiments": args.experiments, "at_once": args.at_once, "seed": args.seed}
    failures = []
    try:
        d.start_infra()
        for name in WORKERS:
            d.start(name)
        d.start("coordinator")
        log(f"deployment up in {folder}")

        seeds = range(1, args.experiments + 1)
        clock = time.time()
        for s in seeds:
            d.submit(f"twin-{s}", s)
        twins = wait_finished(d, [f"twin-{s}" for s in seeds], args.phase_timeout)
        summary["twins_seconds"] = round(time.time() - clock)
        log(f"twins finished in {summary['twins_seconds']} s")

        chaos_ids = [f"chaos-{s}" for s in seeds]
        chaos = Chaos(d, random.Random(args.seed), chaos_ids)
        clock = time.time()
        half = args.experiments // 2
        for s in list(seeds)[:half]:
            d.submit(f"chaos-{s}", s)
        chaos.strike("vital-blocks", while_down=lambda: [d.submit(f"chaos-{s}", s) for s in list(seeds)[half:]])
        disturbed = wait_finished(d, chaos_ids, args.phase_timeout, during=chaos)
        summary["chaos_seconds"] = round(time.time() - clock)
        summary["chaos_events"] = chaos.events
        if chaos.missed():
            failures.append(f"the schedule never reached {', '.join(chaos.missed())}")
        idle = [e["victim"] for e in chaos.events if e.get("busy") is False]
        if idle:
            summary["kills_of_idle_workers"] = idle
        log(f"chaos experiments finished in {summary['chaos_seconds']} s after {len(chaos.events)} events")
        rows = []
        for s in seeds:
            twin, other = twins[f"twin-{s}"], disturbed[f"chaos-{s}"]
            row = {
                "seed": s, "twin_status": twin["status"], "status": other["status"],
                "twin_genotype": twin.get("genotype"), "genotype": other.get("genotype"),
                "twin_top1": (twin.get("result") or {}).get("top1"), "top1": (other.get("result") or {}).get("top1"),
                "attempts": max((st.get("attempt", 1) for st in other["stages"]), default=1),
                "duplicate_points": duplicate_points(other),
            }
            rows.append(row)
            if row["status"] != "Completed" or row["twin_status"] != "Completed":
                failures.append(f"seed {s}: twin {row['twin_status']}, chaos {row['status']} "
                                f"({other.get('failureReason')})")
            elif (row["genotype"], row["top1"]) != (row["twin_genotype"], row["twin_top1"]):
                failures.append(f"seed {s}: {row['genotype']} {row['top1']} against its twin's "
                                f"{row['twin_genotype']} {row['twin_top1']}")
            if row["duplicate_points"]:
                failures.append(f"seed {s}: {row['duplicate_points']} duplicate history points")
        summary["pairs"] = rows
        errors = d.api("GET", "/queues/errors")
        summary["error_queues"] = errors
        if any(errors.values()):
            failures.append(f"messages left in error queues: {errors}")

        if args.at_once:
            ids = [f"burst-{i}" for i in range(1, args.at_once + 1)]
            clock = time.time()
            for i, experiment_id in enumerate(ids):
                d.submit(experiment_id, 100 + i)
            peak = [d.rss_mb("coordinator") or 0]
            burst = wait_finished(d, ids, args.phase_timeout * 2,
                                  during=lambda: peak.append(d.rss_mb("coordinator") or 0))
            wall = time.time() - clock
            completed = sum(1 for st in burst.values() if st["status"] == "Completed")
            summary["at_once_result"] = {
                "completed": completed, "wall_seconds": round(wall),
                "seconds_per_experiment": round(wall / args.at_once, 1),
                "coordinator_peak_rss_mb": round(max(peak)),
                "coordinator_rss_after_mb": round(d.rss_mb("coordinator") or 0),
            }
            if completed != args.at_once:
                failures.append(f"at once: {completed} of {args.at_once} completed")
            log(f"{completed}/{args.at_once} at once in {wall:.0f} s, coordinator peak {max(peak):.0f} MB")
    except Exception as e:  # a timeout or a dead service: report it as a failure with what was gathered
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        d.stop()
    summary["failures"] = failures
    with open(os.path.join(folder, "summary.json"), "w") as out:
        json.dump(summary, out, indent=2)
    print(json.dumps(summary, indent=2))
    print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} failures; logs in {folder}/logs")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
