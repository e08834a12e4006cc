"""Remove an email domain from the organization: pure plan logic (``plan``) and the task.

Importing the package registers the ``remove_email_domain`` task.
"""

from exchange_agent.tasks.email_domain import task as task

__all__ = ["task"]
