"""The bot's schedules as operators see them: `schedules`, `schedules pause|resume <name>`.

The schedules are run by the bot's leader; these operations reach them through the `ScheduleBook` the
environment carries (the bot provides it; operations never import the bot).
"""
