// npm run schedules: creates or replaces the QStash schedules (lib/schedules.ts) for APP_URL.
import { registerSchedules, schedules } from "../lib/schedules";

const ids = await registerSchedules();
for (const [index, schedule] of schedules.entries()) {
  console.log(`${ids[index]}  ${schedule.cron}  ${schedule.path}  (${schedule.purpose})`);
}
