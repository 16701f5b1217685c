"""The offline diff on pull requests: computed without credentials or write permissions (so forks get it too), and
posted by a workflow that never runs the pull request's code; actionlint and the SHA pins are checked with every other
workflow in tests/test_delivery.py."""

from __future__ import annotations

from typing import Any

from tests.test_delivery import WORKFLOW_NAMES, workflow

DIFF_JOB = ("pull-request.yml", "offline-diff")
COMMENT = "offline-diff-comment.yml"


def _steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def test_the_offline_diff_runs_on_every_pull_request_with_a_read_only_token_and_no_credentials() -> None:
    name, job_id = DIFF_JOB
    document = workflow(name)
    assert set(document["on"]) == {"pull_request"}
    job = document["jobs"][job_id]
    assert job["permissions"] == {"contents": "read"}
    assert "needs" not in job  # not behind the credentialed preview, nor behind the checks
    assert "environment" not in job
    assert "strategy" not in job  # one run covers every stack
    text = str(job)
    assert "secrets." not in text
    assert "google-github-actions/auth" not in text
    (checkout,) = _steps(job, "actions/checkout")
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    (run,) = [s for s in job["steps"] if "run" in s]
    assert 'make --silent diff BASE="origin/$BASE_BRANCH" FORMAT=markdown > build/offline-diff/comment.md' in run["run"]
    assert run["env"]["BASE_BRANCH"] == "${{ github.base_ref }}"
    assert 'cat build/offline-diff/comment.md >> "$GITHUB_STEP_SUMMARY"' in run["run"]
    (upload,) = _steps(job, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["name"] == "offline-diff"
    # upload-artifact fails when the run already holds an artifact of that name, which a re-run attempt does.
    assert upload["with"]["overwrite"] is True
    assert set(upload["with"]["path"].split()) == {"build/offline-diff/pr-number", "build/offline-diff/comment.md"}


def test_the_comment_is_posted_by_a_workflow_that_never_runs_the_pull_requests_code() -> None:
    document = workflow(COMMENT)
    assert document["on"] == {
        "workflow_run": {"workflows": [workflow("pull-request.yml")["name"]], "types": ["completed"]}
    }
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert "workflow_run.head_branch" in job["concurrency"]["group"]  # one run at a time per pull request
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]
    assert [s for s in job["steps"] if "run" in s] == []  # no shell: nothing from the artifact is executed
    assert _steps(job, "actions/checkout") == []
    (download,) = _steps(job, "actions/download-artifact")
    assert download["with"]["name"] == "offline-diff"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    (script,) = _steps(job, "actions/github-script")
    source = script["with"]["script"]
    assert script["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert "pull.head.sha !== process.env.HEAD_SHA" in source  # only the pull request the diff was made for
    assert "Number.isSafeInteger(number)" in source
    assert "const limit = 60000; // a comment holds 65,536 characters" in source
    assert "const marker = '<!-- offline-plan-diff -->'" in source
    assert "updateComment" in source  # one comment, updated in place
    assert "createComment" in source
    assert "${{" not in source  # no expression is pasted into the script


def test_no_workflow_runs_on_pull_request_target() -> None:
    for name in WORKFLOW_NAMES:
        assert "pull_request_target" not in workflow(name)["on"], name
