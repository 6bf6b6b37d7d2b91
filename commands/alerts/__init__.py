"""`alerts`, `alerts ack`, `alerts silence`, `alerts unsilence`: the bot's alerts and their silences."""
