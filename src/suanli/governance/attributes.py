"""Facts about a job that governance needs and the domain model does not carry yet.

`JobAttributes.of` reads them from the job when the model has them (``Job.model_id``,
``Job.public_facing``, ``Job.generative``, ``DataAsset.people``,
``DataAsset.sensitive_people``); an engine may also be given them by job id.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model import Job


@dataclass(frozen=True, slots=True)
class JobAttributes:
    #: the model a service runs (None: not named)
    model_id: str | None = None
    #: offered to the public (not only inside the tenant)
    public_facing: bool = False
    #: generates content (text, images, ...)
    generative: bool = True
    #: people whose (non-sensitive) personal information the job's data holds (None: unknown)
    people: int | None = None
    #: people whose sensitive personal information it holds
    sensitive_people: int = 0

    @classmethod
    def of(cls, job: Job) -> JobAttributes:
        """Read from the job's own fields where the model has them."""
        people = getattr(job.data, "people", None)
        return cls(
            model_id=getattr(job, "model_id", None),
            public_facing=bool(getattr(job, "public_facing", False)),
            generative=bool(getattr(job, "generative", True)),
            people=None if people is None else int(people),
            sensitive_people=int(getattr(job.data, "sensitive_people", 0) or 0),
        )
