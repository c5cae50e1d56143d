/** Realistic prompt contexts, shared by the TOON tests and the bench. */
const industries = ["hospitality", "retail", "fitness", "education", "healthcare", "logistics"];
const roles = ["Owner", "Operations manager", "Head of purchasing", "Founder", "Office manager"];
const cities = ["Bristol, UK", "Bath, UK", "Cardiff, UK", "Leeds, UK", "Lyon, FR", "Porto, PT"];
const statuses = ["new", "contacted", "engaged", "replied"];

export function leadsContext(count: number) {
  return {
    leads: Array.from({ length: count }, (_, i) => ({
      name: `Contact ${i + 1}`,
      company: `Company ${i + 1} Ltd`,
      email: `contact${i + 1}@company${i + 1}.example`,
      role: roles[i % roles.length],
      industry: industries[i % industries.length],
      location: cities[i % cities.length],
      score: (i * 37) % 101,
      status: statuses[i % statuses.length],
      source_url: `https://company${i + 1}.example/team`,
    })),
  };
}

export function nestedContext() {
  return {
    business: {
      name: "Northwind Roasters",
      founded: 2019,
      team: { size: 11, roles: { roasting: 3, sales: 2, delivery: 4, admin: 2 } },
      finances: {
        revenue: { monthly: 42000, growth: 0.04 },
        costs: { payroll: 24000, rent: 6000, beans: 7000 },
      },
    },
    goals: [
      { quarter: "Q1", objective: "Open wholesale in Bath", metrics: { accounts: 15, revenue: 9000 } },
      { quarter: "Q2", objective: "Launch subscriptions", metrics: { subscribers: 300, churn: 0.05 } },
    ],
    notes: "Most cafes reorder every three weeks; phone orders take six hours a week.",
  };
}

export function tasksContext(count: number) {
  return {
    earlier_conversations: Array.from({ length: count }, (_, i) => ({
      at: `2026-11-${String((i % 28) + 1).padStart(2, "0")} 09:${String(i % 60).padStart(2, "0")}`,
      asked: `Question number ${i + 1} about pricing and retention for wholesale customers`,
      answered: `Answer ${i + 1}: keep prices, add a reorder reminder, and review churn monthly.`,
    })),
  };
}
