"""Typed access to what create_app attached to the Flask app."""

from __future__ import annotations

from celery import Celery
from flask import current_app

from socialbridge.config import Settings
from webapp.group_commit import GroupCommit
from workers.publish import TaskPublisher
from workers.services import Services


def services() -> Services:
    found: Services = current_app.extensions["socialbridge"]
    return found


def celery() -> Celery:
    found: Celery = current_app.extensions["celery"]
    return found


def group_commit() -> GroupCommit:
    found: GroupCommit = current_app.extensions["group_commit"]
    return found


def publisher() -> TaskPublisher:
    found: TaskPublisher = current_app.extensions["task_publisher"]
    return found


def settings() -> Settings:
    found: Settings = current_app.config["SOCIALBRIDGE_SETTINGS"]
    return found
