"""The bot's own commands, operations like any other: `help`, `whoami`, `audit`, `audit show`, `approvals`,
`locks`. They read the bot's state through the `BotState` protocol the environment carries.
"""
