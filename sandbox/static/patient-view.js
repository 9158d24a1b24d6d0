// patient-view cards on the chart: SMART links launch through /ehr/api/launch (as on the order screen).
(function () {
  const section = document.querySelector("[data-testid=patient-view]");
  if (!section) return;
  for (const button of section.querySelectorAll(".pv-launch")) {
    button.addEventListener("click", async () => {
      const win = window.open("about:blank", "_blank");
      try {
        const resp = await fetch("/ehr/api/launch", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({hookInstance: section.dataset.hookInstance, patient: section.dataset.patient,
                                card: button.dataset.card, link: Number(button.dataset.link)})});
        const data = await resp.json();
        if (!resp.ok) throw new Error(data.error || resp.status);
        if (win) win.location = data.url; else window.location = data.url;
      } catch (e) {
        if (win) win.close();
        button.textContent = "Launch failed: " + e.message;
      }
    });
  }
})();
