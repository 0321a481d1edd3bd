"""Names, labels and filters that tie a Vertex batch job to the spec revision that submitted it.

A job is found again by its labels, never by remembering it: that is what makes
a re-run of an unchanged spec attach instead of submitting twice.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEC_LABEL = "claude-jobs-spec"
REV_LABEL = "claude-jobs-rev"
PART_LABEL = "claude-jobs-part"
PARTS_LABEL = "claude-jobs-parts"
RETRY_LABEL = "claude-jobs-retry"


@dataclass(frozen=True, order=True)
class JobKey:
    """Which slice of a spec revision a job runs: round 0 is the first run, N the N-th retry."""

    retry: int
    part: int
    parts: int

    def labels(self, spec_name: str, rev: str) -> dict[str, str]:
        labels = {
            SPEC_LABEL: spec_name,
            REV_LABEL: rev,
            PART_LABEL: str(self.part),
            PARTS_LABEL: str(self.parts),
        }
        if self.retry:
            labels[RETRY_LABEL] = str(self.retry)
        return labels

    def display_name(self, spec_name: str, rev: str) -> str:
        name = f"claude-jobs-{spec_name}-{rev}"
        if self.parts > 1:
            name += f"-part{self.part}"
        if self.retry:
            name += f"-retry{self.retry}"
        return name

    def slug(self) -> str:
        """A path/table-safe fragment for this job's staged input and output."""
        slug = f"part{self.part:05d}"
        return f"retry{self.retry}-{slug}" if self.retry else slug

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> JobKey | None:
        """The key a job was submitted under, or None for a job this tool did not label."""
        try:
            return cls(
                retry=int(labels.get(RETRY_LABEL, "0")),
                part=int(labels[PART_LABEL]),
                parts=int(labels.get(PARTS_LABEL, "1")),
            )
        except (KeyError, ValueError):
            return None


def revision_filter(spec_name: str, rev: str) -> str:
    return f'labels.{SPEC_LABEL}="{spec_name}" AND labels.{REV_LABEL}="{rev}"'


def spec_filter(spec_name: str) -> str:
    return f'labels.{SPEC_LABEL}="{spec_name}"'


def display_name_filter(display_name: str) -> str:
    return f'display_name="{display_name}"'


def user_labels(spec_labels: dict[str, str]) -> dict[str, str]:
    """The spec's own labels; keys of ours are reserved and never overridden by a spec."""
    return {k: v for k, v in spec_labels.items() if not k.startswith("claude-jobs-")}
