"""The decisions of a rollout, as pure functions: the batch plan (`plan`), the judgement of a
batch and its record (`batches`), the closing summary and whether the run failed (`summary`).
The `tragen_deploy` role's task files call them through the project's filters and do the work
on the hosts; nothing here touches a host."""
